#!/usr/bin/env bash
# Builds the pinned upstream components vnest tests and local mode run (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, helm) from the Go module proxy, into
# a per-version cache outside the repository. Idempotent: a warm run only checks what is there.
#
# Usage: hack/build-kit.sh [--print-dir]
#   --print-dir   print the kit directory (building it first if needed) and nothing else on stdout
# Environment:
#   VNEST_KIT_CACHE   cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/vnest/kit)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

print_dir=false
case "${1:-}" in
  --print-dir) print_dir=true ;;
  "") ;;
  -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "build-kit: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

log() { echo "build-kit: $*" >&2; }
die() { echo "build-kit: error: $*" >&2; exit 1; }

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. Install Go 1.26 or later (https://go.dev/dl/) and run again."
go_minor=$(go env GOVERSION | sed -E 's/^go1\.([0-9]+).*/\1/')
[[ "$go_minor" =~ ^[0-9]+$ && "$go_minor" -ge 26 ]] || die "Go $(go env GOVERSION) is too old; the pinned Kubernetes $KUBERNETES_VERSION needs Go 1.26 or later."

cache_root=${VNEST_KIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vnest/kit}
kit_key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_$(go env GOOS)-$(go env GOARCH)"
kit="$cache_root/$kit_key"
mkdir -p "$kit/bin"
# Several test workers may call this at once: one builds, the others wait and then find it built.
exec 9>"$kit/.lock"
flock 9

# go.mod in each wrapper module must pin the same version as versions.env.
check_pin() { # dir module version
  grep -qE "^(require)?[[:space:]]*$2 $3([[:space:]]|\$)" "$here/tools/$1/go.mod" ||
    die "hack/tools/$1/go.mod does not require $2 $3 as hack/versions.env says; update it and run 'go mod tidy' there."
}
check_pin kube k8s.io/kubernetes "$KUBERNETES_VERSION"
check_pin etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
check_pin kwok sigs.k8s.io/kwok "$KWOK_VERSION"
check_pin helm helm.sh/helm/v3 "$HELM_VERSION"

proxy_checked=false
check_proxy() {
  $proxy_checked && return 0
  local proxy
  proxy=$(go env GOPROXY | cut -d, -f1 | cut -d'|' -f1)
  if [[ "$proxy" == http* ]]; then
    curl -fsS -m 20 -o /dev/null "$proxy/k8s.io/kubernetes/@v/$KUBERNETES_VERSION.info" ||
      die "cannot reach the Go module proxy $proxy (needed to build the pinned components). Check the network or GOPROXY."
  fi
  proxy_checked=true
}

build() { # module-dir output-name package ldflags
  local dir=$1 name=$2 pkg=$3 ldflags=$4 out="$kit/bin/$2"
  if [[ -x "$out" ]]; then return 0; fi
  check_proxy
  log "building $name ($pkg) ..."
  local start=$SECONDS
  (cd "$here/tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") ||
    die "building $name failed (see the Go output above)"
  mv "$out.tmp" "$out"
  log "built $name in $((SECONDS - start))s"
}

kv=$KUBERNETES_VERSION
kminor=$(echo "$kv" | cut -d. -f2)
kube_ld=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $p.gitVersion=$kv -X $p.gitMajor=1 -X $p.gitMinor=$kminor -X $p.gitTreeState=clean"
  kube_ld+=" -X $p.buildDate=1970-01-01T00:00:00Z"
done
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build kube "$c" "k8s.io/kubernetes/cmd/$c" "$kube_ld"
done
build etcd etcd . ""
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kv#v}"
build helm helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# kwok simulates nothing without stages: take the upstream "fast" node and pod stages and the
# lease-based node heartbeat from the same kwok module version.
if [[ ! -f "$kit/kwok-stages/pod-ready.yaml" ]]; then
  kwok_src=$(cd "$here/tools/kwok" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d "$kwok_src" ]] || die "cannot find the kwok $KWOK_VERSION module source to copy its stages from"
  mkdir -p "$kit/kwok-stages"
  cp "$kwok_src"/kustomize/stage/node/fast/node-initialize.yaml \
    "$kwok_src"/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    "$kwok_src"/kustomize/stage/pod/fast/pod-{ready,complete,delete}.yaml "$kit/kwok-stages/"
  chmod u+w "$kit"/kwok-stages/*.yaml
fi

cat > "$kit/versions.json.tmp.$$" <<EOF
{"kubernetes":"$KUBERNETES_VERSION","etcd":"$ETCD_VERSION","kwok":"$KWOK_VERSION","helm":"$HELM_VERSION"}
EOF
mv "$kit/versions.json.tmp.$$" "$kit/versions.json"

if $print_dir; then echo "$kit"; else log "kit ready in $kit"; fi
