#!/usr/bin/env bash
# Installs the Debian packages a real node and the image build need: runc (containerd's runtime),
# nftables (kube-proxy's and the node guard's `nft`), iptables and ipset (the NetworkPolicy
# enforcer's, kube-router), busybox-static (the test-workload image), bash-static (the shell of the
# conformance run's busybox stand-in) and mmdebstrap (the Debian root file system under the Node base image stand-in), and zsh and fish
# (the completion tests load vnest's scripts into them). Idempotent: a
# machine that has them all is left alone; otherwise `apt-get update` runs once, then install.
# Needs root (as the real node does).
set -euo pipefail
packages=(runc nftables iptables ipset busybox-static bash-static mmdebstrap zsh fish)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "debian-packages: missing ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "debian-packages: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
