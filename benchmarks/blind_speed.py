"""The cost of each step of blind deblurring, and of the two data-term operators, on 512 x 512.

skimage.data.camera (and astronaut for RGB, cropped to 512 x 512) blurred with a camera-shake
field up to 35 px, sigma 0.01; median of 5 runs after a warm-up, on the CPU with the given number
of torch threads (run it on an idle machine). Also the accuracy of the two data-term operators
against the exact reference operator. Issue targets: default ``deblur()`` on 512 x 512
gray <= 2.5 s; non-blind IRC-Net 5 x 2 on 512 x 512 gray <= 0.5 s.

    python benchmarks/blind_speed.py [--threads 2]
"""

from __future__ import annotations

import numpy as np
import torch
from _common import arguments, machine, median_time, save
from skimage import data

from napari_motion_deblur import blur, deblur, deconvolve
from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.estimation.camera_model import (
    WIDE_SCALES,
    PooledCepstra,
    camera_check,
    refine_motion,
)
from napari_motion_deblur.estimation.motionnet import get_motionnet, predict
from napari_motion_deblur.estimation.spectral import cepstral_check, patch_cepstra
from napari_motion_deblur.physics.compression import jpeg_evidence, jpeg_round_trip
from napari_motion_deblur.physics.degradation import strong_shake_field
from napari_motion_deblur.physics.noise import noise_sigma
from napari_motion_deblur.physics.operators import NonUniformBlur
from napari_motion_deblur.physics.reference import PerPixelBlur, ReferenceBlur
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.settings import DeblurSettings
from napari_motion_deblur.solvers.refiner import load_refiner, refine

RUNS = 5




def main():
    args = arguments(__doc__.splitlines()[0], images=0)
    gray = data.camera().astype(np.float32) / 255.0
    rgb = data.astronaut()[:512, :512].astype(np.float32) / 255.0
    field = camera_shake_field(gray.shape, 0, max_length=35.0)
    blurred = {"gray": blur(gray, field, 0.01, seed=0), "RGB": blur(rgb, field, 0.01, seed=0)}
    y = blurred["gray"]
    blind = DeblurSettings().deconvolution.replace(device="cpu", refine=False)
    estimate = estimate_with_confidence(y, device="cpu")
    raw = predict(get_motionnet(torch.device("cpu")), y, "cpu", passes=4)
    used = estimate.for_deblurring()
    cepstra = patch_cepstra(y)
    checked, confidence = cepstral_check(y, raw, cepstra=cepstra)
    deconvolved = deconvolve(y, used, settings=blind)
    jpeg_refiner, default_refiner = load_refiner(compressed=True), load_refiner()
    fitted = camera_check(y, checked, confidence, cepstra=cepstra)[2].fitted
    full = [PooledCepstra(y, cepstra)] + [PooledCepstra(y, patch=p, stride=p // 4)
                                          for p in (64, 96)]
    jpeg = jpeg_round_trip(y, 90)
    steps = {
        "Motion-Net, 4 passes": lambda: predict(get_motionnet(torch.device("cpu")), y, "cpu",
                                                passes=4),
        "cepstral check": lambda: cepstral_check(y, raw),
        "camera model (fit, pooled cepstra, scale and turn search)":
            lambda: camera_check(y, checked, confidence, cepstra=cepstra),
        "camera model with the half-resolution cepstra (used for long motions)":
            lambda: camera_check(y, checked, confidence, cepstra=cepstra, multiscale_from=0.0),
        "+ its wide search, where a nearly translational motion needs it (half-resolution "
        "cepstra, 0.6-2.4x)":
            lambda: refine_motion(full + [PooledCepstra(y, downscale=2)], fitted, WIDE_SCALES),
        "noise level": lambda: noise_sigma(y),
        "IRC-Net 5x2, blind settings (node operator, auto TV)":
            lambda: deconvolve(y, used, settings=blind),
        f"learned refiner ({default_refiner.views} views as shipped)":
            lambda: refine(deconvolved, y, used),
        "learned refiner, 1 view": lambda: refine(deconvolved, y, used, views=1),
        "`deblur()`, all defaults": lambda: deblur(y, device="cpu"),
        "JPEG detection": lambda: jpeg_evidence(y),
        f"learned refiner for JPEG inputs (32 channels, {jpeg_refiner.views} views as shipped)":
            lambda: refine(deconvolved, y, used, model=jpeg_refiner),
        "learned refiner for JPEG inputs, 1 view":
            lambda: refine(deconvolved, y, used, model=jpeg_refiner, views=1),
        "`deblur()`, all defaults, the input saved as JPEG 90": lambda: deblur(jpeg, device="cpu"),
    }
    timings = {name: median_time(fn, RUNS) for name, fn in steps.items()}
    for name, seconds in timings.items():
        print(f"{name}: {seconds:.3f} s", flush=True)
    operators = {}
    for kind, image in blurred.items():
        for operator in ("nodes", "exact"):
            operators[f"{kind}, {operator}"] = median_time(
                lambda image=image, operator=operator: deconvolve(image, field, device="cpu",
                                                                  operator=operator), RUNS)
            print(f"deconvolve {kind} {operator}: {operators[f'{kind}, {operator}']:.3f} s",
                  flush=True)
    accuracy = operator_accuracy(gray)
    total = timings["`deblur()`, all defaults"]
    lines = [f"# Blind deblurring cost, 512x512 (median of {RUNS})\n",
             f"Machine: {machine(args.threads)}.\n", "| step (gray) | time |", "|---|---|"]
    lines += [f"| {name} | {seconds:.2f} s |" for name, seconds in timings.items()]
    lines += ["", "| non-blind `deconvolve()` 5x2, known field | node operator | exact "
              "per-pixel data term (default) |", "|---|---|---|"]
    lines += [f"| {kind} | {operators[f'{kind}, nodes']:.2f} s | "
              f"{operators[f'{kind}, exact']:.2f} s |" for kind in blurred]
    lines += ["", "Accuracy of `K x` against the reference operator (`ReferenceBlur`, 4 reads "
              "per pixel of streak), camera image, strong camera shake up to 35 px "
              "(`strong_shake_field`, seed 0): relative error ||K x - K_ref x|| / ||K_ref x||"
              " and max abs error.", "", "| operator | relative error | max abs error |",
              "|---|---|---|"]
    lines += [f"| {name} | {rel:.2e} | {mx:.2e} |" for name, (rel, mx) in accuracy.items()]
    lines.append(f"\nTarget `deblur()` <= 2.5 s on 512x512 gray: "
                 f"{'met' if total <= 2.5 else 'missed'} ({total:.2f} s). Target non-blind "
                 f"<= 0.5 s: {operators['gray, exact']:.2f} s (exact), "
                 f"{operators['gray, nodes']:.2f} s (nodes).")
    save("blind_speed", {"machine": machine(args.threads), "runs": RUNS, "steps": timings,
                         "deconvolve": operators, "operator_accuracy": accuracy},
         "\n".join(lines))


def operator_accuracy(sharp: np.ndarray) -> dict[str, tuple[float, float]]:
    """Relative and max error of the data-term operators against the reference operator."""
    field = strong_shake_field(sharp.shape, np.random.default_rng(0), max_length=35.0)
    reference = ReferenceBlur(field)(sharp).astype(np.float64)
    x = torch.from_numpy(sharp)[None]
    with torch.no_grad():
        candidates = {"exact data term (`PerPixelBlur`, 1 read per pixel of streak)":
                      PerPixelBlur(field)(x)[0].numpy(),
                      "node blend (`NonUniformBlur`, nodes every 48 px)":
                      NonUniformBlur(field)(x)[0].numpy()}
    # 20 px from the border: the operators' boundary rules differ (clamped vs mirrored).
    inner = (slice(20, -20), slice(20, -20))
    return {name: (float(np.linalg.norm(k[inner] - reference[inner])
                         / np.linalg.norm(reference[inner])),
                   float(np.abs(k[inner] - reference[inner]).max()))
            for name, k in candidates.items()}


if __name__ == "__main__":
    main()
