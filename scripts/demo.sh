#!/usr/bin/env bash
# The quick start's first command: set up (scripts/setup.sh) and run the demo switch, two
# network namespaces on bridge br0 pinging and running iperf3 through it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/vswitch.js demo "$@"
