"""Refiner weights compared on the held-out validation pairs of a refiner training pool.

    python scripts/compare_refiners.py POOL_FOLDER WEIGHTS [WEIGHTS ...]   (DEV=cpu|cuda)

``ONLY_JPEG=1``: on the held-out pairs whose input is JPEG-compressed only (the JPEG refiner's).

Prints each file's mean PSNR gain over the unrefined result (the training script's validation
metric) on ``POOL_FOLDER/heldout_*.npy``; a file that does not exist (a fine-tune that never
beat its start writes none) is reported as such.
"""

import os
import sys
from pathlib import Path

import numpy as np

from napari_motion_deblur.solvers.refiner import load_refiner
from napari_motion_deblur.training.refiner import jpeg_pairs, psnr_gain


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    folder = Path(argv[0])
    pool = np.concatenate([np.load(p) for p in sorted(folder.glob("heldout_*.npy"))])
    if os.environ.get("ONLY_JPEG"):
        pool = jpeg_pairs(pool)
    train = sum(len(np.load(p, mmap_mode="r")) for p in folder.glob("train_*.npy"))
    print(f"{len(pool)} held-out pairs, {train} training pairs")
    for name in argv[1:]:
        if not Path(name).exists():
            print(f"{name}: none written (never beat its start)")
            continue
        model = load_refiner(name).to(os.environ.get("DEV", "cuda"))
        print(f"{name}: val gain {psnr_gain(model, pool):+.4f} dB")


if __name__ == "__main__":
    main(sys.argv[1:])
