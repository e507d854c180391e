#!/usr/bin/env bash
# The GPU check of issue 8 in one short run (a few minutes): the CUDA tests, then CUDA timings,
# CPU/GPU agreement and peak GPU memory (benchmarks/results/gpu.md). Run from the repository
# root on a machine with CUDA: bash benchmarks/gpu_check.sh
set -euo pipefail
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device')"
python -m pytest -q -p no:cacheprovider tests/test_operators.py tests/test_refiner.py \
    -k "cuda or device or blocks"  # the CUDA-only tests and the device-parametrized ones
cd benchmarks && python gpu_check.py --runs 5
