#!/usr/bin/env bash
# Prints a directory holding `pulumi` and its Python language host, for PATH.
#
# Uses `pulumi` from PATH when it is there and new enough (>= MIN_VERSION). Otherwise builds
# the pinned release from the Go module proxy into a cache outside the repo, once:
#   ${XDG_CACHE_HOME:-$HOME/.cache}/bitlocker-policy/pulumi/$PULUMI_VERSION/bin
# Progress goes to stderr; the directory is the only line on stdout.
set -euo pipefail

PULUMI_VERSION="${PULUMI_VERSION:-v3.274.1}"
MIN_VERSION="3.227.0"   # `preview --expect-no-changes` exits 7; dynamic providers get configure()
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/bitlocker-policy/pulumi/$PULUMI_VERSION"
say() { printf 'ensure-pulumi: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

version_at_least() {  # version_at_least 3.230.0 3.227.0
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

if installed="$(command -v pulumi 2>/dev/null)"; then
  have="$(pulumi version 2>/dev/null | sed 's/^v//')"
  if [ -n "$have" ] && version_at_least "$have" "$MIN_VERSION" && command -v pulumi-language-python >/dev/null; then
    say "using pulumi $have from PATH ($installed)"
    dirname "$installed"
    exit 0
  fi
  say "pulumi on PATH is ${have:-unknown} (need >= $MIN_VERSION with pulumi-language-python); using the pinned build"
fi

# The language host is this repo's own source: a cached build counts only if it was built
# from the same main.go (a changed host is rebuilt; with Go's caches warm that takes seconds).
host_sum="$(sha256sum "$here/pulumi-language-python/main.go" | cut -d' ' -f1)"
cached() {
  [ -x "$cache/bin/pulumi" ] && [ "$("$cache/bin/pulumi" version 2>/dev/null)" = "$PULUMI_VERSION" ] \
    && [ "$(cat "$cache/langhost.sha256" 2>/dev/null)" = "$host_sum" ]
}
if cached; then
  echo "$cache/bin"
  exit 0
fi
# One build at a time: a caller that finds another building waits for it, then uses its result
# (flock is util-linux's; where it is missing, concurrent callers each build, as before).
mkdir -p "$(dirname "$cache")"
if command -v flock >/dev/null; then
  exec 9>"$(dirname "$cache")/.build.lock"
  if ! flock -n 9; then
    say "another process is building pulumi $PULUMI_VERSION; waiting for it"
    flock 9
  fi
fi
if cached; then
  echo "$cache/bin"
  exit 0
fi

command -v go >/dev/null || die "neither pulumi (>= $MIN_VERSION) nor go is on PATH: install Pulumi (https://www.pulumi.com/docs/install/) or Go >= 1.26, then run again"

say "building pulumi $PULUMI_VERSION from the Go module proxy (first time only; a few minutes)"
mkdir -p "$(dirname "$cache")"
work="$(mktemp -d "$(dirname "$cache")/build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

say "downloading github.com/pulumi/pulumi/{pkg,sdk}/v3@$PULUMI_VERSION"
(cd "$work" && go mod download -json "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" \
  "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION") > "$work/modules.json" \
  || die "the Go module proxy did not serve pulumi $PULUMI_VERSION (GOPROXY=$(go env GOPROXY))"
gomod() { sed -n "s|.*\"GoMod\": \"\(.*/$1/v3/@v/.*\.mod\)\".*|\1|p" "$work/modules.json"; }
sdk_dir="$(sed -n 's|.*"Dir": "\(.*/sdk/v3@.*\)".*|\1|p' "$work/modules.json")"
go_directive="$(sed -n 's/^go //p' "$(gomod pkg)")"

# The release's go.mod files carry replace directives that `go install` refuses; a wrapper
# module requires both modules and repeats the non-local replaces (those not pointing at ../).
{
  printf 'module bitlocker-policy/pulumi-cli\n\ngo %s\n\n' "$go_directive"
  printf 'require (\n\tgithub.com/pulumi/pulumi/pkg/v3 %s\n\tgithub.com/pulumi/pulumi/sdk/v3 %s\n)\n\n' "$PULUMI_VERSION" "$PULUMI_VERSION"
  cat "$(gomod pkg)" "$(gomod sdk)" | grep -E '^replace [^ ]+ => [^.]' | sort -u
} > "$work/go.mod"
mkdir -p "$work/langhost" "$work/bin"
cp "$here/pulumi-language-python/main.go" "$work/langhost/main.go"

ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$PULUMI_VERSION"
build() {  # build OUTPUT PACKAGE
  say "go build $2"
  (cd "$work" && GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "$ldflags" -o "bin/$1" "$2") >&2 || die "building $1 failed (see the go output above)"
}
build pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
build pulumi-language-python ./langhost
install -m 0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" "$work/bin/"
install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$work/bin/"

built="$("$work/bin/pulumi" version)"
[ "$built" = "$PULUMI_VERSION" ] || die "the built pulumi reports $built, expected $PULUMI_VERSION"
rm -rf "$cache.tmp" && mkdir -p "$cache.tmp" && mv "$work/bin" "$cache.tmp/bin"
echo "$host_sum" > "$cache.tmp/langhost.sha256"
rm -rf "$cache" && mv "$cache.tmp" "$cache"
say "pulumi $PULUMI_VERSION ready in $cache/bin ($(du -sh "$cache" | cut -f1))"
echo "$cache/bin"
