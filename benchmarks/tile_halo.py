"""How far a tiled deconvolution is from the whole-image one, by halo width.

IRC-Net's iterations carry information far: each of the 5 x 2 x-updates spreads the residual
by the blur and inverse-filter radii, and each step is an exact line search, a sum over what
the call sees. A tile deblurred on its outer box (the tile grown by the halo) therefore
differs from the same pixels of the whole image. This measures by how much, away from the
image border (30 px), for the shipped halo (``tiling.DECONVOLUTION_HALO``, 204 px) and wider
ones, and what each costs: a 1920 x 1920 gray photograph (scikit-image's astronaut, resized)
blurred by camera shake up to 25 px (the node operator, sigma 0.01), 480-px tiles (their
outer boxes stay smaller than the image for every halo measured), non-blind defaults. Halos
are rounded up to the node grid (48 px). The halo is a module constant, so the script sets it
for each run.

    python benchmarks/tile_halo.py [--threads 2] [--halos 204,400,640]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from _common import machine, save
from skimage import data, transform

import napari_motion_deblur.deconvolution as deconvolution_module
from napari_motion_deblur import blur, deconvolve
from napari_motion_deblur.physics.synthesis import camera_shake_field

SHAPE = (1920, 1920)
TILE = 480
BORDER = 30


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--halos", default="204,400,640")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sharp = transform.resize(data.astronaut()[..., 1], SHAPE, anti_aliasing=True)
    sharp = sharp.astype(np.float32)
    field = camera_shake_field(sharp.shape, 3, max_length=25)
    blurred = blur(sharp, field, noise_sigma=0.01, seed=0)
    start = time.perf_counter()
    whole = deconvolve(blurred, field, tile=None, device="cpu")
    whole_seconds = time.perf_counter() - start
    shipped = deconvolution_module.DECONVOLUTION_HALO
    rows = []
    try:
        for halo in (int(h) for h in args.halos.split(",")):
            deconvolution_module.DECONVOLUTION_HALO = halo
            start = time.perf_counter()
            tiled = deconvolve(blurred, field, tile=TILE, device="cpu")
            seconds = time.perf_counter() - start
            inner = np.abs(tiled - whole)[BORDER:-BORDER, BORDER:-BORDER]
            rows.append({"halo": halo, "rounded": -(-halo // 48) * 48, "seconds": seconds,
                         "mean": float(inner.mean()), "max": float(inner.max()),
                         "p99_9": float(np.percentile(inner, 99.9))})
            print(rows[-1], flush=True)
    finally:
        deconvolution_module.DECONVOLUTION_HALO = shipped
    lines = ["# Tiled against whole-image deconvolution, by halo width\n",
             __doc__.split("\n\n")[1].replace("\n", " ") + "\n",
             f"Machine: {machine(args.threads)}. Whole image: {whole_seconds:.1f} s. "
             f"Differences on [0, 1], beyond {BORDER} px of the image border; the target of "
             "issue 9 is a maximum of 1e-3.\n",
             f"| halo (px; rounded) | tiled ({TILE}-px tiles) | mean abs. difference "
             "| 99.9th percentile | max |", "|---|---|---|---|---|"]
    lines += [f"| {r['halo']} ({r['rounded']}){' shipped' if r['halo'] == shipped else ''} | "
              f"{r['seconds']:.1f} s | {r['mean']:.1e} | {r['p99_9']:.4f} | {r['max']:.4f} |"
              for r in rows]
    save("tile_halo", {"machine": machine(args.threads), "shape": list(SHAPE), "tile": TILE,
                       "whole_seconds": whole_seconds, "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
