#!/usr/bin/env bash
# One lent-GPU burst (~8 minutes): make refiner training pairs in 15 processes, then train two
# refiners at once on the GPU (a width-32 one from the identity, the shipped width-16 one
# fine-tuned) and compare them with the shipped one on the held-out pairs. Run from the
# repository root on the device with DATA=<Train400 folder> (carried with the tree, e.g. in an
# ignored .gpudata/) and OUT=<folder for the results>; DEV=cpu WORKERS=2 POOLMIN=0.3 MIN=0.3
# VAL=8 smoke-tests it on a CPU. Prepared in a session whose second lease was refused: not run.
set -uo pipefail
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
DATA=${DATA:-.gpudata/train400} DEV=${DEV:-cuda} WORKERS=${WORKERS:-15} POOLMIN=${POOLMIN:-3.2} MIN=${MIN:-3.5} VAL=${VAL:-96}
R="python3 -m napari_motion_deblur.training.refiner --data $DATA --pool runs/pool --pool-chunk 8 --device $DEV --validate-every 15 --samples 9000 --validation $VAL"
nproc; nvidia-smi --query-gpu=name --format=csv,noheader || true
$R --workers $WORKERS --pool-minutes $POOLMIN --minutes 0.02 --out runs/pool_only 2>&1 | tail -3
$R --pool-minutes 0 --minutes $MIN --width 32 --batch 32 --out runs/w32 > $OUT/w32.txt 2>&1 &
$R --pool-minutes 0 --minutes $MIN --batch 32 --lr 3e-4 --init src/napari_motion_deblur/resources/refiner.pt --out runs/w16 > $OUT/w16.txt 2>&1 &
wait
tail -n 4 $OUT/w32.txt $OUT/w16.txt
DEV=$DEV python3 scripts/compare_refiners.py runs/pool src/napari_motion_deblur/resources/refiner.pt runs/w32/refiner.pt runs/w16/refiner.pt 2>&1 | tee -a $OUT/w32.txt
for m in w32 w16; do for f in refiner.pt refiner.json refiner_train_log.csv; do cp -f runs/$m/$f $OUT/${m}_$f; done; done
ls $OUT
