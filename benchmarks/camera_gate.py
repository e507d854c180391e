"""How the camera model's acceptance thresholds were chosen (held-out Train400 images only).

For each case of the blind benchmark's held-out split (``blind.py --tuning``: the three field
kinds, moderate and severe, linear and realistic), Motion-Net's checked estimate (camera model
off) is compared with the same estimate after the camera model forced on: IRC-Net with the blind
settings (no refiner) deconvolves both. Every pair of thresholds (pooled-cepstrum margin,
fit residual) then decides per case which of the two a user would get; the table reports the
mean PSNR per variant and field kind for each pair. The thresholds are chosen on the first
half of the images and checked on the second half.

    python benchmarks/camera_gate.py [--data ../shared/data] [--images 24]
"""

from __future__ import annotations

import numpy as np
from _common import machine, psnr, save
from blind import (
    KINDS,
    VARIANTS,
    by_halves,
    centre_crop,
    held_out_arguments,
    held_out_rows,
    luminance_of,
)

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import MotionEstimate, estimate_with_confidence
from napari_motion_deblur.estimation.camera_model import (
    MAX_RESIDUAL,
    MIN_MARGIN,
    camera_check,
)
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.settings import DeblurSettings, EstimationSettings

MARGINS = (2.0, 3.0, 4.0, 5.0)
RESIDUALS = (0.05, 0.1, 0.2)


def run_case(sharp, kind, max_length, variant, seed):
    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
    blind = DeblurSettings()
    settings = blind.deconvolution.replace(device="cpu", refine=False)
    estimate = estimate_with_confidence(obs.blurred, settings=EstimationSettings(
        device="cpu", camera=False))
    lum = luminance_of(obs.blurred)
    forced, confidence, fit = camera_check(lum, estimate.field, estimate.confidence,
                                           min_margin=-np.inf, max_residual=np.inf)
    before = deconvolve(obs.blurred, estimate.for_deblurring(blind.length_scale),
                        settings=settings)
    after = deconvolve(obs.blurred, MotionEstimate(forced, confidence).for_deblurring(
        blind.length_scale), settings=settings)
    return {"kind": kind, "variant": variant, "residual": fit.residual, "margin": fit.margin,
            "psnr_blurry": psnr(obs.blurred, obs.sharp), "psnr_without": psnr(before, obs.sharp),
            "psnr_with": psnr(after, obs.sharp)}


def sharp_case(image, seed):
    """The camera model on an unblurred image (noise 0.01 only): any use of it is wrong."""
    rng = np.random.default_rng(seed)
    noisy = np.clip(image + rng.normal(0, 0.01, image.shape).astype(np.float32), 0, 1)
    estimate = estimate_with_confidence(noisy, settings=EstimationSettings(device="cpu",
                                                                           camera=False))
    _, confidence, fit = camera_check(luminance_of(noisy), estimate.field, estimate.confidence)
    return {"accepted": fit.accepted, "residual": fit.residual, "margin": fit.margin,
            "confirmed_share": float(confidence.mean())}


def gated(rows, margin, residual):
    """Per variant and kind: (mean PSNR without, mean PSNR with this gate, cases accepted)."""
    out = {}
    for variant in VARIANTS:
        for kind in (*KINDS, "all"):
            group = [r for r in rows if r["variant"] == variant and kind in ("all", r["kind"])]
            take = [r["margin"] <= -margin and r["residual"] <= residual for r in group]
            chosen = [r["psnr_with"] if t else r["psnr_without"] for r, t in zip(group, take)]
            out[f"{variant} {kind}"] = (float(np.mean([r["psnr_without"] for r in group])),
                                        float(np.mean(chosen)), int(sum(take)), len(group))
    return out


def table(title, rows):
    lines = [f"### {title}", "", "| margin / residual | " + " | ".join(
        f"{v} {k}" for v in VARIANTS for k in (*KINDS, "all")) + " |",
        "|---|" + "---|" * (len(VARIANTS) * (len(KINDS) + 1))]
    base = gated(rows, np.inf, -np.inf)
    lines.append("| off | " + " | ".join(f"{b:.2f}" for b, *_ in base.values()) + " |")
    for margin in MARGINS:
        for residual in RESIDUALS:
            cells = gated(rows, margin, residual)
            mark = "**" if (margin, residual) == (MIN_MARGIN, MAX_RESIDUAL) else ""
            lines.append(f"| {mark}{margin:g} / {residual:g}{mark} | " + " | ".join(
                f"{w:.2f} ({n}/{m})" for _, w, n, m in cells.values()) + " |")
    return lines


def main(argv=None):
    args, every_held_out = held_out_arguments(__doc__.splitlines()[0], 24, argv)
    held_out = every_held_out[: args.images]
    sharp_rows = [sharp_case(centre_crop(image), k) for k, image in enumerate(every_held_out)]
    print(f"sharp images: camera model used on {sum(r['accepted'] for r in sharp_rows)} of "
          f"{len(sharp_rows)}", flush=True)
    rows = held_out_rows(held_out, run_case, seed=900)
    lines = ["# Camera model: acceptance thresholds (held-out Train400 images)", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"Cells: mean PSNR (dB) with the gate (cases where the camera model is used / "
             f"cases). Shipped: margin {MIN_MARGIN:g}, residual {MAX_RESIDUAL:g} (bold).", "",
             f"Machine: {machine(args.threads)}.", ""]
    lines += by_halves(table, rows, len(held_out))
    lines += ["", f"Unblurred held-out images (noise 0.01 only), shipped thresholds: the camera "
              f"model was used on {sum(r['accepted'] for r in sharp_rows)} of "
              f"{len(sharp_rows)} (every use would be wrong); fit residuals "
              f"{min(r['residual'] for r in sharp_rows):.2f}-"
              f"{max(r['residual'] for r in sharp_rows):.2f}."]
    save("camera_gate", {"machine": machine(args.threads), "rows": rows, "sharp": sharp_rows,
                         "margins": MARGINS, "residuals": RESIDUALS}, "\n".join(lines))


if __name__ == "__main__":
    main()
