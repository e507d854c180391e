"""How blind deblurring uses the Motion-Net estimate: passes, length scale and TV weight.

Tuned on images the network never saw and that the motion benchmark does not use: the
training script's held-out validation split of train400 (every 10th image), blurred with the
camera-shake, object and uniform generators in the "moderate" (<= 21 px) and "severe"
(<= 35 px) sets, noise sigma 0.01, 20-px crop. For each setting: mean PSNR of IRC-Net
(5 stages x 2 iterations) with the estimate, next to the blurry input and the true field. The
defaults of :func:`napari_motion_deblur.deblur` come from this table.

    python benchmarks/blind_tuning.py [--data ../shared/data] [--images 12] [--threads 1]
"""

from __future__ import annotations

import itertools

import numpy as np
from _common import arguments, machine, observe, psnr, save
from skimage import io

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation import estimate_motion
from napari_motion_deblur.irc import DEFAULT_LAMBDA
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.motionnet import streak_error
from napari_motion_deblur.synthesis import (
    camera_shake_field,
    object_motion_field,
    uniform_random_field,
)

SIGMA = 0.01
SETS = {"moderate": 21.0, "severe": 35.0}
KINDS = (camera_shake_field, object_motion_field, uniform_random_field)
PASSES = (1, 4)
SCALES = (0.6, 0.7, 0.8, 0.9, 1.0)
WEIGHTS = (1.0, 2.0, 3.0)  # x DEFAULT_LAMBDA


def held_out_images(folder, count):
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    chosen = [f for i, f in enumerate(files) if i % 10 == 9][:count]
    if not chosen:
        raise SystemExit(f"no PNG images in {folder}; pass --data")
    return [io.imread(f).astype(np.float32) / 255.0 for f in chosen]


def main():
    args = arguments(__doc__.splitlines()[0], images=12)
    images = held_out_images(args.data / "train400", args.images)
    settings = list(itertools.product(PASSES, SCALES, WEIGHTS))
    results, lines = {}, []
    for s, (set_name, max_length) in enumerate(SETS.items()):
        scores = {key: [] for key in settings}
        blurry, true, mse = [], [], {p: [] for p in PASSES}
        for i, sharp in enumerate(images):
            for k, make_field in enumerate(KINDS):
                seed = 7000 + 1000 * s + 10 * i + k
                field = make_field(sharp.shape, np.random.default_rng(seed),
                                   max_length=max_length)
                blurred, truth, field = observe(sharp, field, SIGMA, seed)
                blurry.append(psnr(blurred, truth))
                true.append(psnr(deconvolve(blurred, field, device="cpu"), truth))
                for passes in PASSES:
                    estimate = estimate_motion(blurred, device="cpu", passes=passes)
                    mse[passes].append(streak_error(estimate, field))
                    for scale, weight in itertools.product(SCALES, WEIGHTS):
                        used = MotionField(estimate.length * scale, estimate.angle)
                        out = deconvolve(blurred, used, device="cpu",
                                         regularization=weight * DEFAULT_LAMBDA)
                        scores[(passes, scale, weight)].append(psnr(out, truth))
            print(f"{set_name}: image {i + 1}/{len(images)}", flush=True)
        table = {f"passes={p} scale={sc} lambda={w}x": float(np.mean(v))
                 for (p, sc, w), v in scores.items()}
        best = max(table, key=table.get)
        results[set_name] = {"psnr_blurry": float(np.mean(blurry)),
                             "psnr_true_field": float(np.mean(true)),
                             "streak_mse": {str(p): float(np.mean(v)) for p, v in mse.items()},
                             "psnr": table, "best": best, "cases": len(blurry)}
        lines += [f"\n### {set_name} (lengths up to {max_length:g} px, {len(blurry)} cases)\n",
                  f"Blurry {np.mean(blurry):.2f} dB, true field {np.mean(true):.2f} dB; "
                  "Motion-Net streak MSE " + ", ".join(
                      f"{p} pass(es) {np.mean(v):.1f} px^2" for p, v in mse.items())
                  + f". Best setting: {best}.\n",
                  "| passes | lambda | " + " | ".join(f"scale {sc}" for sc in SCALES) + " |",
                  "|---|---|" + "---|" * len(SCALES)]
        for passes, weight in itertools.product(PASSES, WEIGHTS):
            cells = [f"{np.mean(scores[(passes, sc, weight)]):.2f}" for sc in SCALES]
            lines.append(f"| {passes} | {weight:g}x | " + " | ".join(cells) + " |")
    header = ["# Blind deblurring settings (held-out train400 images)\n",
              f"{len(images)} images (the training's validation split, never trained on, not "
              "in the motion benchmark) x 3 field kinds per set, noise sigma 0.01. PSNR (dB) of "
              "IRC-Net with the Motion-Net estimate, lengths times `scale`, TV weight `lambda` "
              "x the non-blind default.\n", f"Machine: {machine(args.threads)}."]
    save("blind_tuning", {"machine": machine(args.threads), "sets": results},
         "\n".join(header + lines))


if __name__ == "__main__":
    main()
