#!/usr/bin/env bash
# Builds the upstream Kubernetes e2e test binary (k8s.io/kubernetes/test/e2e at hack/versions.env's
# KUBERNETES_VERSION, with `go test -c`), the ginkgo CLI that runs it in parallel, and the programs of
# the suite's test images that `npm run conformance -- --real-node` puts in its stand-in images
# (agnhost, nnp), from the wrapper module hack/tools/e2e, into the kit's cache beside the other
# components (build-kit.sh).
# `npm run conformance` and the conformance integration test call it. Idempotent: a warm run only
# checks what is there.
#
# Usage: hack/build-e2e.sh [--print-dir]
#   --print-dir   print the folder holding e2e.test and ginkgo (building them first if needed) and
#                 nothing else on stdout
# Environment:
#   VNEST_KIT_CACHE   cache root (as for build-kit.sh)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

print_dir=false
case "${1:-}" in
  --print-dir) print_dir=true ;;
  "") ;;
  -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-e2e: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

log() { echo "build-e2e: $*" >&2; }
die() { echo "build-e2e: error: $*" >&2; exit 1; }

# The kit first: it checks Go and the module proxy, and names the cache folder.
kit=$(bash "$here/build-kit.sh" --print-dir)
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

grep -qE "^(require)?[[:space:]]*k8s.io/kubernetes $KUBERNETES_VERSION([[:space:]]|\$)" "$here/tools/e2e/go.mod" ||
  die "hack/tools/e2e/go.mod does not require k8s.io/kubernetes $KUBERNETES_VERSION as hack/versions.env says; update it and run 'go mod tidy' there."

out="$kit/e2e"
mkdir -p "$out"
# A lock of its own: building the e2e binary takes long and must not hold up build-kit.sh's users.
exec 9>"$out/.lock"
flock 9

kv=$KUBERNETES_VERSION
kminor=$(echo "$kv" | cut -d. -f2)
kube_ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$kminor -X $p.gitTreeState=clean"
  kube_ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done

if [[ ! -x "$out/e2e.test" ]]; then
  log "building e2e.test (k8s.io/kubernetes/test/e2e $kv); this takes long (10-30 minutes on 2 cores) ..."
  start=$SECONDS
  (cd "$here/tools/e2e" && go test -c -vet=off -trimpath -ldflags "-s -w $kube_ld" -o "$out/e2e.test.tmp" k8s.io/kubernetes/test/e2e) ||
    die "building e2e.test failed (see the Go output above)"
  mv "$out/e2e.test.tmp" "$out/e2e.test"
  log "built e2e.test in $((SECONDS - start))s"
fi
if [[ ! -x "$out/ginkgo" ]]; then
  log "building ginkgo ..."
  start=$SECONDS
  (cd "$here/tools/e2e" && go build -trimpath -ldflags "-s -w" -o "$out/ginkgo.tmp" github.com/onsi/ginkgo/v2/ginkgo) ||
    die "building ginkgo failed (see the Go output above)"
  mv "$out/ginkgo.tmp" "$out/ginkgo"
  log "built ginkgo in $((SECONDS - start))s"
fi

# The test images' programs: agnhost (most of the suite's pods run it) and nonewprivs' nnp.
for prog in agnhost:k8s.io/kubernetes/test/images/agnhost nnp:k8s.io/kubernetes/test/images/nonewprivs; do
  name=${prog%%:*}
  if [[ ! -x "$out/$name" ]]; then
    log "building $name ..."
    start=$SECONDS
    (cd "$here/tools/e2e" && go build -trimpath -ldflags "-s -w $kube_ld" -o "$out/$name.tmp" "${prog#*:}") ||
      die "building $name failed (see the Go output above)"
    mv "$out/$name.tmp" "$out/$name"
    log "built $name in $((SECONDS - start))s"
  fi
done

if $print_dir; then echo "$out"; else log "e2e.test, ginkgo, agnhost and nnp ready in $out"; fi
