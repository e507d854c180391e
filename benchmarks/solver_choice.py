"""Which x-update for a known field: IRC's step or conjugate gradients (held-out images only).

The evidence for (not yet) changing the known-field default. Held-out Train400 images (after
the first 3, on which ``exact_nonuniform.py`` chooses NU-CG's lambda), central crops, blurred
pixel by pixel (``physics/degradation.degrade``, linear variant) with strong camera shake,
moving objects and uniform motion up to 35 px, at two noise levels. Both solvers run IRC-Net
5 x 2 with the exact data term and the default TV weight; only ``solver`` differs.

    python benchmarks/solver_choice.py [--data ../shared/data] [--images 10]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import DATA, machine, psnr, save
from blind import centre_crop

from napari_motion_deblur import deconvolve
from napari_motion_deblur.physics.degradation import degrade, strong_shake_field
from napari_motion_deblur.physics.synthesis import object_motion_field, uniform_random_field
from napari_motion_deblur.settings import DeconvolutionSettings
from napari_motion_deblur.training.motionnet import folder_split

KINDS = {"camera": strong_shake_field, "objects": object_motion_field,
         "uniform": uniform_random_field}
SIGMAS = (0.01, 0.02)
SOLVERS = ("irc", "pcg")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder with train400/")
    parser.add_argument("--images", type=int, default=10, help="held-out images")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    held_out = folder_split(args.data / "train400")[1][3 : 3 + args.images]
    rows = []
    for i, image in enumerate(held_out):
        sharp = centre_crop(image)
        for k, (kind, make) in enumerate(KINDS.items()):
            for s, sigma in enumerate(SIGMAS):
                seed = 7000 + 10 * i + 3 * k + s
                field = make(sharp.shape, np.random.default_rng(seed), max_length=35.0)
                obs = degrade(sharp, field, seed, sigma=sigma)
                row = {"image": i, "kind": kind, "sigma": sigma,
                       "blurry": psnr(obs.blurred, obs.sharp)}
                for solver in SOLVERS:
                    start = time.perf_counter()
                    out = deconvolve(obs.blurred, obs.field, settings=DeconvolutionSettings(
                        device="cpu", solver=solver))
                    row[solver] = psnr(out, obs.sharp)
                    row[f"seconds_{solver}"] = time.perf_counter() - start
                rows.append(row)
                print(kind, sigma, {n: round(row[n], 2) for n in ("blurry", *SOLVERS)},
                      flush=True)
    lines = [f"# Known field: IRC step vs conjugate gradients (held-out Train400, "
             f"{len(held_out)} images, central crops, exact per-pixel blur <= 35 px)\n",
             f"Machine: {machine(args.threads)}. IRC-Net 5 x 2, exact data term, default TV "
             "weight; PSNR in dB (mean).\n",
             "| kind | sigma | cases | blurry | `irc` | `pcg` | pcg - irc | pcg below irc | "
             "time pcg / irc |", "|---|---|---|---|---|---|---|---|---|"]
    for kind in [*KINDS, "all"]:
        for sigma in [*SIGMAS, "all"]:
            sel = [r for r in rows if kind in ("all", r["kind"]) and sigma in ("all", r["sigma"])]
            if (kind == "all") != (sigma == "all"):
                continue
            diff = [r["pcg"] - r["irc"] for r in sel]
            ratio = np.median([r["seconds_pcg"] / r["seconds_irc"] for r in sel])
            lines.append(f"| {kind} | {sigma} | {len(sel)} | "
                         f"{np.mean([r['blurry'] for r in sel]):.2f} | "
                         f"{np.mean([r['irc'] for r in sel]):.2f} | "
                         f"{np.mean([r['pcg'] for r in sel]):.2f} | {np.mean(diff):+.2f} | "
                         f"{sum(d < 0 for d in diff)} | {ratio:.2f} |")
    save("solver_choice", {"machine": machine(args.threads), "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
