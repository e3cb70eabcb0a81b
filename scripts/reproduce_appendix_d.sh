#!/usr/bin/env bash
# Reproduce Appendix D of Zhang, Chen & Chen (ICML 2025) at CPU size: 12 MLP runs
# (task degree k x number of tasks n), each probed, then the figure and the table of our
# final identification errors beside the paper's. Resumable: run it again after a kill.
#   scripts/reproduce_appendix_d.sh [OUT_DIR]      (default runs/sweeps/appendix_d)
set -euo pipefail
cd "$(dirname "$0")/.."
probekit sweep --config configs/sweeps/appendix_d.yaml --out "${1:-runs/sweeps/appendix_d}"
