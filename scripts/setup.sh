#!/usr/bin/env bash
# Installs what vswitch needs on Debian 12 (as root): the system packages its demo, tests and
# native build use, then the node dependencies (npm ci, which also builds the Node-API addon
# and compiles the TypeScript). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(iproute2 iperf3 iputils-ping tcpdump procps psmisc ethtool python3 make gcc g++ openvswitch-switch qemu-system-x86 cpio kmod)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "setup: Node.js 20 or newer is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

echo "setup: npm ci (node dependencies, native addon, TypeScript build)"
npm ci --no-audit --no-fund
