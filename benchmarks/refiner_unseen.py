"""The blind chain with and without the learned refiner, on blur and cameras it was never trained
on: the 8 real camera-shake kernels of Levin et al. (2009) (curved, uneven trajectories, not the
linear streaks of the training data) on Set12, each in two variants:

* ``gaussian``: noise sigma 0.01 (the noise the training data's linear half also has);
* ``poisson``: a microscope-like camera: linear intensities, Poisson noise (1000 photons at full
  scale) and read noise 0.002, no gamma, no JPEG (the training data has Poisson noise only
  with sRGB encoding and JPEG 90);
* ``jpeg75``: noise sigma 0.02 then JPEG quality 75 (the training data: at most 0.02 and JPEG 90).

Blurred by plain convolution (``physics/operators.Convolution``, symmetric boundary), then 20 px
of border cut. Both rows share one estimate and one deconvolution (``deblur()``'s settings); the
refined row adds the refiner, exactly as ``deblur()`` does by default (``refine(result, ...)``
equals ``deconvolve(..., refine=True)``, tests/test_refiner.py).

    python benchmarks/refiner_unseen.py [--data ../shared/data] [--images 6]
"""

from __future__ import annotations

import numpy as np
import torch
from _common import CROP, arguments, load_set12, machine, psnr, save, ssim

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.physics.compression import jpeg_round_trip
from napari_motion_deblur.physics.kernels import odd_square
from napari_motion_deblur.physics.operators import Convolution
from napari_motion_deblur.settings import DeblurSettings
from napari_motion_deblur.solvers.refiner import refine

SIDE = 256
VARIANTS = {"gaussian": (0.01, None), "poisson": ("poisson", None), "jpeg75": (0.02, 75)}
PHOTONS, READ_NOISE = 1000.0, 0.002


def observe(sharp, psf, sigma, quality, seed):
    op = Convolution(odd_square(torch.from_numpy(psf)))
    with torch.no_grad():
        blurred = op(torch.from_numpy(sharp)[None])[0].numpy()
    rng = np.random.default_rng(seed)
    if sigma == "poisson":
        blurred = (rng.poisson(np.clip(blurred, 0, None) * PHOTONS) / PHOTONS
                   + rng.normal(0, READ_NOISE, blurred.shape))
    else:
        blurred = blurred + rng.normal(0, sigma, blurred.shape)
    blurred = np.clip(blurred, 0, 1).astype(np.float32)
    if quality is not None:
        blurred = jpeg_round_trip(blurred, quality)
    inner = (slice(CROP, -CROP), slice(CROP, -CROP))
    return blurred[inner], np.ascontiguousarray(sharp[inner])


def main():
    args = arguments(__doc__, images=6)
    images = load_set12(args.data / "set12", args.images)
    kernels = np.load(args.data / "levin09" / "levin09_kernels.npz")
    psfs = [kernels[f"k{i}"].astype(np.float32) for i in range(1, 9)]
    settings = DeblurSettings()
    settings = settings.replace(
        estimation=settings.estimation.replace(device="cpu"),
        deconvolution=settings.deconvolution.replace(device="cpu", refine=False))
    rows = []
    for i, (name, image) in enumerate(images):
        r, c = (image.shape[0] - SIDE) // 2, (image.shape[1] - SIDE) // 2
        sharp = np.ascontiguousarray(image[r : r + SIDE, c : c + SIDE])
        for k, psf in enumerate(psfs):
            for v, (variant, (sigma, quality)) in enumerate(VARIANTS.items()):
                blurred, truth = observe(sharp, psf, sigma, quality, 1000 * i + 10 * k + v)
                estimate = estimate_with_confidence(blurred, settings=settings.estimation)
                field = estimate.for_deblurring(settings.length_scale)
                plain = deconvolve(blurred, field, settings=settings.deconvolution)
                refined = refine(plain, blurred, field)
                row = {"image": name, "kernel": k + 1, "variant": variant,
                       "psnr_blurry": psnr(blurred, truth), "psnr_deblur": psnr(plain, truth),
                       "psnr_refined": psnr(refined, truth), "ssim_blurry": ssim(blurred, truth),
                       "ssim_deblur": ssim(plain, truth), "ssim_refined": ssim(refined, truth)}
                rows.append(row)
                print(f"{name} k{k + 1} {variant}: blurry {row['psnr_blurry']:.2f} deblur "
                      f"{row['psnr_deblur']:.2f} refined {row['psnr_refined']:.2f}", flush=True)
    lines = ["# The refiner on blur and cameras it was not trained on (Levin kernels, Set12)\n",
             f"Set12 images {', '.join(n for n, _ in images)} (central {SIDE} px), the 8 "
             "Levin et al. (2009) camera-shake kernels, plain convolution, 20-px crop; "
             "`gaussian`: sigma 0.01; `poisson`: linear, Poisson (1000 photons) + read noise "
             "0.002; `jpeg75`: sigma 0.02 then JPEG 75. Blind chain = "
             "`deblur()`'s estimate and deconvolution, without and with the refiner.\n",
             f"Machine: {machine(args.threads)}.\n",
             "| variant | cases | PSNR blurry | PSNR deblur, no refiner | PSNR deblur + refiner |"
             " SSIM blurry / no refiner / refiner | below blurry: no refiner / refiner | "
             "refiner better |",
             "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for variant in [*VARIANTS, "all"]:
        sel = [r for r in rows if variant in ("all", r["variant"])]
        s = {key: float(np.mean([r[key] for r in sel])) for key in sel[0] if
             key.startswith(("psnr", "ssim"))}
        s["cases"] = len(sel)
        s["below_deblur"] = int(sum(r["psnr_deblur"] < r["psnr_blurry"] for r in sel))
        s["below_refined"] = int(sum(r["psnr_refined"] < r["psnr_blurry"] for r in sel))
        s["refiner_better"] = int(sum(r["psnr_refined"] > r["psnr_deblur"] for r in sel))
        summary[variant] = s
        lines.append(f"| {variant} | {s['cases']} | {s['psnr_blurry']:.2f} | "
                     f"{s['psnr_deblur']:.2f} | {s['psnr_refined']:.2f} | "
                     f"{s['ssim_blurry']:.3f} / {s['ssim_deblur']:.3f} / {s['ssim_refined']:.3f}"
                     f" | {s['below_deblur']} / {s['below_refined']} | "
                     f"{s['refiner_better']} of {s['cases']} |")
    save("refiner_unseen", {"machine": machine(args.threads), "summary": summary, "cases": rows},
         "\n".join(lines))


if __name__ == "__main__":
    main()
