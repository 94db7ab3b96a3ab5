#!/usr/bin/env bash
# Set up this machine and start the product: the lab Asterisk, a demo CRM and agents, the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/cti demo "$@"
