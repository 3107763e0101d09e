#!/usr/bin/env bash
# Builds vcluster's syncer (the `vcluster` binary of cmd/vcluster, the one its pod runs with
# `start`) at VCLUSTER_VERSION from the Go module proxy, for `npm run bench -- --peer vcluster`
# only: it is not part of the kit, `npm test` or .ci/run. Idempotent: a no-op when it is there.
#
# Usage: hack/bench/build-vcluster.sh [--print-path]
#   --print-path   print the binary's path (building it first if needed) and nothing else on stdout
# Environment:
#   VNEST_KIT_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/vnest/kit); the binary
#                     goes to $VNEST_KIT_CACHE/vcluster-<version>/vcluster, and the chart's default
#                     values (the base of the syncer's config) beside it as values.yaml
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=../versions.env
source "$here/versions.env"

print_path=false
case "${1:-}" in
  --print-path) print_path=true ;;
  "") ;;
  -h|--help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-vcluster: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

log() { echo "build-vcluster: $*" >&2; }
die() { echo "build-vcluster: error: $*" >&2; exit 1; }

[[ -n "${VCLUSTER_VERSION:-}" ]] || die "hack/versions.env does not set VCLUSTER_VERSION"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH (vcluster $VCLUSTER_VERSION needs Go 1.25 or later)."

cache_root=${VNEST_KIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vnest/kit}
dir="$cache_root/vcluster-$VCLUSTER_VERSION"
out="$dir/vcluster"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9

src=""
module_source() { # the module's folder in the Go module cache, downloaded when needed
  [[ -n "$src" ]] && return 0
  log "downloading github.com/loft-sh/vcluster@$VCLUSTER_VERSION ..."
  src=$(cd "$dir" && go mod download -json "github.com/loft-sh/vcluster@$VCLUSTER_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d "$src" ]] || die "cannot download github.com/loft-sh/vcluster@$VCLUSTER_VERSION from the Go module proxy (is that version served there? go list -m -json github.com/loft-sh/vcluster@$VCLUSTER_VERSION)"
}

if [[ ! -f "$dir/values.yaml" ]]; then
  module_source
  # The syncer reads its config file as the chart renders it (the chart's values.yaml under the
  # user's values) and fills in no defaults of its own, so the peer starts from these values.
  install -m 0644 "$src/chart/values.yaml" "$dir/values.yaml"
fi

if [[ ! -x "$out" ]]; then
  # The module's go.mod has no replace directives, but its repository builds with -mod=vendor and
  # module zips leave vendor/ out: build in a writable copy of the module with its own go.sum, so
  # the dependency versions are exactly upstream's.
  module_source
  work=$(mktemp -d "$dir/src.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  cp -r "$src"/. "$work"
  chmod -R u+w "$work"
  rm -rf "$work/vendor"
  log "building vcluster $VCLUSTER_VERSION (cmd/vcluster; several minutes) ..."
  start=$SECONDS
  (cd "$work" && nice -n 10 go build -trimpath \
    -ldflags "-s -w -X github.com/loft-sh/vcluster/pkg/telemetry.SyncerVersion=$VCLUSTER_VERSION" \
    -o "$out.tmp" ./cmd/vcluster) || die "building vcluster failed (see the Go output above)"
  mv "$out.tmp" "$out"
  log "built vcluster in $((SECONDS - start))s"
fi

if $print_path; then echo "$out"; else log "vcluster ready at $out"; fi
