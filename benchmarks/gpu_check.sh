#!/usr/bin/env bash
# The GPU check of issue 8 in one short run (a few minutes): the CUDA tests, then CUDA timings,
# CPU/GPU agreement and peak GPU memory (benchmarks/results/gpu.md). Run from the repository
# root on a machine with CUDA: bash benchmarks/gpu_check.sh
set -euo pipefail
PYTHON=${PYTHON:-python3}
"$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
# The CUDA-only tests and the cuda cases of the device-parametrized ones (adjointness of the
# node and per-pixel operators, the streamed x-update of large images), then the timings.
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_operators.py tests/test_refiner.py \
    tests/test_pcg_solver.py tests/test_irc_streamed.py -k "cuda or blocks"
cd benchmarks && "$PYTHON" gpu_check.py --runs 5
