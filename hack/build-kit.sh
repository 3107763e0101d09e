#!/usr/bin/env bash
# Builds the pinned upstream components vnest tests and local mode run (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, kwok, helm) and those of a real node
# (kubelet, kube-proxy, containerd and its runc shim, ctr, the CNI plugins, CoreDNS, crane, a pause
# binary, kube-router as NetworkPolicy enforcer), metrics-server and BuildKit (buildkitd, buildctl)
# from the Go module proxy, into a per-version cache outside the repository. Idempotent: a warm run only checks what is there.
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
command -v go >/dev/null 2>&1 || die "Go is not installed or not on PATH. Install Go 1.26.8 or later (https://go.dev/dl/) and run again."
# BuildKit $BUILDKIT_VERSION asks for Go 1.26.8, containerd $CONTAINERD_VERSION for 1.26.6, everything else for 1.26.
go_version=$(go env GOVERSION | sed -E 's/^go//')
go_minor=$(echo "$go_version" | cut -d. -f2)
go_patch=$(echo "$go_version" | cut -d. -f3 | sed -E 's/[^0-9].*$//')
[[ "$go_minor" =~ ^[0-9]+$ && ( "$go_minor" -gt 26 || ( "$go_minor" -eq 26 && "${go_patch:-0}" -ge 8 ) ) ]] ||
  die "Go $go_version is too old; the pinned components (BuildKit $BUILDKIT_VERSION) need Go 1.26.8 or later."

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
check_pin containerd github.com/containerd/containerd/v2 "$CONTAINERD_VERSION"
check_pin cni github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION"
check_pin coredns github.com/coredns/coredns "$COREDNS_VERSION"
check_pin ggcr github.com/google/go-containerregistry "$GGCR_VERSION"
check_pin buildkit github.com/moby/buildkit "$BUILDKIT_VERSION"
check_pin kube-router github.com/cloudnativelabs/kube-router/v2 "$KUBE_ROUTER_VERSION"
check_pin metrics-server sigs.k8s.io/metrics-server "$METRICS_SERVER_VERSION"

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

build() { # module-dir output-name package ldflags [output-dir [build-tags]]
  local dir=$1 name=$2 pkg=$3 ldflags=$4 out="${5:-$kit/bin}/$2" tags=${6:-}
  if [[ -x "$out" ]]; then return 0; fi
  check_proxy
  log "building $name ($pkg) ..."
  local start=$SECONDS
  mkdir -p "$(dirname "$out")"
  (cd "$here/tools/$dir" && go build -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" -o "$out.tmp" "$pkg") ||
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
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy; do
  build kube "$c" "k8s.io/kubernetes/cmd/$c" "$kube_ld"
done
build etcd etcd . ""
build kwok kwok sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${kv#v}"
build helm helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# The real node's parts, in a folder of their own versions (kubelet and kube-proxy are above).
node="$kit/node-containerd-${CONTAINERD_VERSION}_cni-${CNI_PLUGINS_VERSION}_coredns-${COREDNS_VERSION}_ggcr-${GGCR_VERSION}"
ctrd=github.com/containerd/containerd/v2
ctrd_ld="-X $ctrd/version.Version=$CONTAINERD_VERSION -X $ctrd/version.Revision=$CONTAINERD_VERSION -X $ctrd/version.Package=$ctrd"
build containerd containerd "$ctrd/cmd/containerd" "$ctrd_ld" "$node/bin" "urfave_cli_no_docs no_btrfs no_devmapper no_zfs"
build containerd containerd-shim-runc-v2 "$ctrd/cmd/containerd-shim-runc-v2" "$ctrd_ld" "$node/bin" "urfave_cli_no_docs no_grpc"
build containerd ctr "$ctrd/cmd/ctr" "$ctrd_ld" "$node/bin" "urfave_cli_no_docs"
for p in main/bridge ipam/host-local main/loopback meta/portmap; do
  build cni "$(basename "$p")" "github.com/containernetworking/plugins/plugins/$p" \
    "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" "$node/cni"
done
build coredns coredns . "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION" "$node/bin"
build ggcr crane github.com/google/go-containerregistry/cmd/crane "-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=$GGCR_VERSION" "$node/bin"
build pause pause . "" "$node/bin"

# BuildKit, to build the vnest image from its Dockerfile (a folder of its own version).
buildkit="$kit/buildkit-${BUILDKIT_VERSION}"
bk_ld="-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit"
build buildkit buildkitd github.com/moby/buildkit/cmd/buildkitd "$bk_ld" "$buildkit/bin"
build buildkit buildctl github.com/moby/buildkit/cmd/buildctl "$bk_ld" "$buildkit/bin"

# The real node's NetworkPolicy enforcer (a folder of its own version).
kube_router="$kit/kube-router-${KUBE_ROUTER_VERSION}"
build kube-router kube-router github.com/cloudnativelabs/kube-router/v2/cmd/kube-router \
  "-X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=$KUBE_ROUTER_VERSION" "$kube_router/bin"

# The host's resource metrics API, for `kubectl top` in a tenant (a folder of its own version).
metrics_server="$kit/metrics-server-${METRICS_SERVER_VERSION}"
build metrics-server metrics-server sigs.k8s.io/metrics-server/cmd/metrics-server \
  "-X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION -X k8s.io/client-go/pkg/version.gitTreeState=clean" "$metrics_server/bin"

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

# kwok's emulation of the kubelet's /metrics/resource and a usage that pods' annotations
# kwok.x-k8s.io/usage-cpu and usage-memory set, for metrics-server to scrape (same module version).
if [[ ! -f "$kit/kwok-metrics/usage-from-annotation.yaml" ]]; then
  kwok_src=$(cd "$here/tools/kwok" && go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d "$kwok_src" ]] || die "cannot find the kwok $KWOK_VERSION module source to copy its metrics from"
  mkdir -p "$kit/kwok-metrics"
  cp "$kwok_src"/kustomize/metrics/resource/metrics-resource.yaml "$kwok_src"/kustomize/metrics/usage/usage-from-annotation.yaml "$kit/kwok-metrics/"
  chmod u+w "$kit"/kwok-metrics/*.yaml
fi

cat > "$kit/versions.json.tmp.$$" <<EOF
{"kubernetes":"$KUBERNETES_VERSION","etcd":"$ETCD_VERSION","kwok":"$KWOK_VERSION","helm":"$HELM_VERSION","containerd":"$CONTAINERD_VERSION","cniPlugins":"$CNI_PLUGINS_VERSION","coredns":"$COREDNS_VERSION","ggcr":"$GGCR_VERSION","buildkit":"$BUILDKIT_VERSION","nodeDir":"$node","buildkitDir":"$buildkit","kubeRouter":"$KUBE_ROUTER_VERSION","kubeRouterDir":"$kube_router","metricsServer":"$METRICS_SERVER_VERSION","metricsServerDir":"$metrics_server"}
EOF
mv "$kit/versions.json.tmp.$$" "$kit/versions.json"

if $print_dir; then echo "$kit"; else log "kit ready in $kit"; fi
