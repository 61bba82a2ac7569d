#!/usr/bin/env bash
# The one-command demo (`make demo`): the real Pulumi CLI converging a tenant on the local
# Entra + Graph emulator. Everything lives in .demo/ (git-ignored) and is started afresh.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="$repo/.venv/bin/python"
port=8943   # examples/stacks/Pulumi.demo.yaml points authorityHost and graphEndpoint here
url="https://127.0.0.1:$port"
tenant="8f3a0c5e-5d2b-4c3e-9a51-d3e1b2c4a6f7"
client="5a1f0c7e-2b9d-4e8a-8c3f-1d2e3f4a5b6c"

[ -x "$py" ] || { echo "demo: run 'make demo' (it creates .venv first)" >&2; exit 1; }
PATH="$(scripts/ensure-pulumi.sh):$PATH"

rm -rf .demo && mkdir -p .demo
export PULUMI_BACKEND_URL="file://$repo/.demo/state" PULUMI_HOME="$repo/.demo/pulumi-home"
export PULUMI_CONFIG_PASSPHRASE="bitlocker-policy-demo" PULUMI_SKIP_UPDATE_CHECK=true
export SSL_CERT_FILE="$repo/.demo/ca.pem"
ARM_CLIENT_SECRET="demo-$("$py" -c 'import secrets; print(secrets.token_urlsafe(16))')"
export ARM_CLIENT_SECRET
mkdir -p .demo/state

if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
  echo "demo: port $port is in use; stop what listens there (a previous demo?) and run again" >&2
  exit 1
fi
"$py" -m emulator --port "$port" --ca-file "$SSL_CERT_FILE" --tenant-id "$tenant" \
  --client-id "$client" --allowed true > .demo/emulator.log 2>&1 &
emulator=$!
trap 'kill "$emulator" 2>/dev/null || true; wait "$emulator" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
for _ in $(seq 100); do grep -q ready .demo/emulator.log 2>/dev/null && break; sleep 0.1; done
grep -q ready .demo/emulator.log || { cat .demo/emulator.log >&2; echo "demo: the emulator did not start" >&2; exit 1; }

control() { curl -sf --cacert "$SSL_CERT_FILE" "$@"; }
live() { control "$url/_emulator/tenants/$tenant/bitlocker" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["allowedToReadBitlockerKeysForOwnedDevice"])'; }
seen=0
requests() {  # Graph and token requests since the last call
  control "$url/_emulator/requests" | "$py" -c '
import collections, json, sys
seen = int(sys.argv[1]); rows = json.load(sys.stdin)
counts = collections.Counter("{} {}".format(r["method"], r["kind"]) for r in rows[seen:])
print(len(rows), ", ".join(f"{n} x {k}" for k, n in sorted(counts.items())) or "none")' "$seen"
}
step() {
  printf '\n\033[1m== %s\033[0m\n' "$1"; shift
  local start=$SECONDS
  "$@"
  read -r seen counts < <(requests)
  printf -- '-- %ss; requests to the emulator: %s; owners may read their keys: %s\n' "$((SECONDS - start))" "$counts" "$(live)"
}

# The demo runs in a project of its own (.demo/project): the repository's program, linked, and
# the demo stack's file from examples/, so stacks/ keeps only the user's tenants.
mkdir -p .demo/project/stacks
for name in Pulumi.yaml __main__.py program.py pyproject.toml requirements.txt providers .venv; do
  ln -s "$repo/$name" ".demo/project/$name"
done
cp examples/stacks/Pulumi.demo.yaml .demo/project/stacks/
cd .demo/project
pulumi stack init demo --secrets-provider passphrase >/dev/null
echo "Tenant $tenant starts with allowedToReadBitlockerKeysForOwnedDevice = $(live)."
echo "The demo stack (examples/stacks/Pulumi.demo.yaml) declares false: owners must not read their keys."
step "1. pulumi preview: reads the live value, nothing to write yet" pulumi preview --non-interactive
step "2. pulumi up: record the value found, then block self-service" pulumi up --yes --non-interactive --skip-preview
step "3. an admin re-allows it in the portal (the emulator's switch)" control -X POST -d true "$url/_emulator/tenants/$tenant/bitlocker" -o /dev/null
step "4. pulumi preview: the drift is named (liveValue: false => true) without --refresh" pulumi preview --non-interactive
step "5. pulumi up: converge again" pulumi up --yes --non-interactive --skip-preview
step "6. pulumi destroy: give back the value found at adoption" pulumi destroy --yes --non-interactive --skip-preview
echo
echo "Done. State, logs and the emulator's CA are in .demo/; the emulator has stopped."
