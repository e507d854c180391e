#!/usr/bin/env bash
# One lent-GPU session (~8 minutes): refiner training pairs made in 14 processes while the CUDA
# tests run, then the JPEG refiner (width 32) fine-tuned and widened to 48 on the JPEG pairs,
# trained at once on the GPU and compared with the shipped ones on the held-out JPEG pairs,
# then the GPU check's timings and profile (benchmarks/gpu_check.py). Run from the repository
# root on the device with DATA=<Train400 folder> (carried with the tree, e.g. in an ignored
# .gpudata/) and OUT=<folder for the results>; everything lands in $OUT/results.tar.gz (packed
# again after each phase, so a run stopped at its limit still returns what it finished) and
# $OUT/log.txt. DEV=cpu WORKERS=2 POOLMIN=0.3 MIN=0.3 VAL=8 SKIP_CHECK=1 smoke-tests it on a CPU.
set -uo pipefail
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
DATA=${DATA:-.gpudata/train400} DEV=${DEV:-cuda} WORKERS=${WORKERS:-14}
POOLMIN=${POOLMIN:-2.3} MIN=${MIN:-3.0} VAL=${VAL:-96}
RES=$OUT/res
mkdir -p "$RES"
pack() { tar -czf "$OUT/results.tar.gz" -C "$RES" . ; }
exec > >(tee -a "$OUT/log.txt") 2>&1
R="python3 -m napari_motion_deblur.training.refiner --data $DATA --pool runs/pool --pool-chunk 8
   --device $DEV --validate-every 15 --samples 9000 --validation $VAL"
date; nproc; nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
$R --workers "$WORKERS" --pool-minutes "$POOLMIN" --minutes 0.02 --out runs/pool_only \
    > "$RES/pool.txt" 2>&1 &
pool=$!
if [ "$DEV" = cuda ]; then
    python3 -m pytest -q -p no:cacheprovider tests/test_operators.py tests/test_refiner.py \
        tests/test_pcg_solver.py tests/test_irc_streamed.py -k "cuda or blocks" \
        > "$RES/cuda_tests.txt" 2>&1
    tail -n 3 "$RES/cuda_tests.txt"
fi
wait $pool  # a bare wait would also wait for the tee above
tail -n 3 "$RES/pool.txt"; date; pack
JPEG=src/napari_motion_deblur/resources/refiner_jpeg.pt  # width 32
pids=()
for w in 32 48; do  # the JPEG refiner fine-tuned at batch 32, and widened to 48
    $R --pool-minutes 0 --minutes "$MIN" --init $JPEG --width $w --batch 32 --lr 3e-4 \
        --only-jpeg --out runs/w$w > "$RES/w$w.txt" 2>&1 &
    pids+=($!)
done
wait "${pids[@]}"
for w in 32 48; do
    tail -n 3 "$RES/w$w.txt"
    for f in refiner.pt refiner.json refiner_train_log.csv; do
        cp -f runs/w$w/$f "$RES/w${w}_$f" 2>/dev/null
    done
done
DEV=$DEV ONLY_JPEG=1 python3 scripts/compare_refiners.py runs/pool \
    src/napari_motion_deblur/resources/refiner.pt $JPEG runs/w32/refiner.pt runs/w48/refiner.pt \
    2>&1 | tee "$RES/compare.txt"
date; pack
if [ -z "${SKIP_CHECK:-}" ]; then
    (cd benchmarks && python3 gpu_check.py --runs 5) > "$RES/gpu_check.txt" 2>&1
    tail -n 5 "$RES/gpu_check.txt"
    cp -f benchmarks/results/gpu.md benchmarks/results/gpu.json benchmarks/results/gpu_profile.md \
        "$RES/" 2>/dev/null
fi
date; pack; ls -l "$RES"
