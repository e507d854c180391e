"""Before/after crops at 100 % of the real blurred photographs, with the estimated fields.

For each photograph in ``<data>/real`` (no ground truth): ``deblur()`` with its defaults, then
a figure with, per crop, the blurry input | the blind result without the learned refiner | the
blind result as ``deblur()`` gives it (with the refiner) | ``deblur(linear_light=True)`` (the
same estimate, deconvolved in linear light, with the photo refiner), at 100 % (no resampling),
and a
reduced view of the whole photograph with the estimated streaks drawn at their length (red:
unconfirmed by the cepstrum, green: confirmed). Writes ``docs/real/<name>.png`` and prints the
time and the field's statistics.

    python scripts/real_photos.py [--data ../shared/data] [--out docs/real]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.estimation.camera_model import (
    MAX_RESIDUAL,
    MIN_MARGIN,
    SCALES,
    WIDE_SCALES,
    CameraFit,
)
from napari_motion_deblur.settings import DeblurSettings
from napari_motion_deblur.solvers.refiner import refine

REPO = Path(__file__).resolve().parents[1]
#: 100 % crops (row, col, side) per photograph: regions with text, edges and texture.
CROPS = {"blurred_street": [(190, 320, 280), (420, 80, 280)],
         "blurred_car": [(330, 40, 280), (150, 900, 280)]}


def _streaks(image: np.ndarray, field, confidence, spacing: int = 40, scale: float = 0.5):
    """The photograph at ``scale`` with the streaks drawn at their length."""
    h, w = field.shape
    view = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8)).resize(
        (int(w * scale), int(h * scale)), Image.LANCZOS)
    draw = ImageDraw.Draw(view)
    for r in range(spacing // 2, h, spacing):
        for c in range(spacing // 2, w, spacing):
            half = field.length[r, c] / 2.0 * scale
            a = np.radians(field.angle[r, c])
            dr, dc = -np.sin(a) * half, np.cos(a) * half
            colour = (40, 220, 40) if confidence[r, c] >= 0.5 else (255, 40, 40)
            y, x = r * scale, c * scale
            draw.line([(x - dc, y - dr), (x + dc, y + dr)], fill=colour, width=2)
    return np.asarray(view)


def figure(name: str, images: list[np.ndarray], field, confidence) -> Image.Image:
    """Per crop, ``images`` side by side at 100 %; then the blurry overview with streaks."""
    gap = 8
    rows = []
    for r, c, side in CROPS.get(name, [(0, 0, 280)]):
        spacer = np.ones((side, gap, 3))
        row = []
        for x in images:
            row += [np.clip(x[r : r + side, c : c + side], 0, 1), spacer]
        rows.append(np.concatenate(row[:-1], axis=1))
    crops = np.concatenate([np.concatenate([row, np.ones((gap, row.shape[1], 3))])
                            for row in rows])
    overview = _streaks(images[0], field, confidence) / 255.0
    height = max(crops.shape[0], overview.shape[0])
    pad = [np.ones((height - x.shape[0], x.shape[1], 3)) for x in (crops, overview)]
    canvas = np.concatenate([np.concatenate([crops, pad[0]]), np.ones((height, gap, 3)),
                             np.concatenate([overview, pad[1]])], axis=1)
    return Image.fromarray((canvas * 255).astype(np.uint8))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "real")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    photos = sorted((args.data / "real").glob("*.png"))
    if not photos:
        raise SystemExit(f"no photographs in {args.data / 'real'}; pass --data")
    settings = DeblurSettings()
    settings = settings.replace(
        estimation=settings.estimation.replace(device="cpu"),
        deconvolution=settings.deconvolution.replace(device="cpu", refine=False))
    for path in photos:
        blurry = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
        # deblur()'s steps one by one, each done once: the estimate (with its confidence), the
        # deconvolution, the refiner (refine() of the result is what deblur() returns).
        start = time.perf_counter()
        estimate = estimate_with_confidence(blurry, settings=settings.estimation)
        used = estimate.for_deblurring(settings.length_scale)
        config = settings.deconvolution_for(estimate.confidence)
        unrefined = deconvolve(blurry, used, settings=config)
        result = refine(unrefined, blurry, used)
        seconds = time.perf_counter() - start
        light = deconvolve(blurry, used, settings=config.replace(linear_light=True, refine=True))
        figure(path.stem, [blurry, unrefined, result, light], estimate.field,
               estimate.confidence).save(args.out / f"{path.stem}.png")
        print(f"{path.stem}: {blurry.shape[1]}x{blurry.shape[0]}, deblur()'s steps "
              f"{seconds:.1f} s; "
              f"estimated length median {np.median(estimate.field.length):.1f} px "
              f"(90th percentile {np.percentile(estimate.field.length, 90):.1f}), "
              f"confirmed {100 * np.mean(estimate.confidence >= 0.5):.0f} % of the image; "
              f"deconvolved with median {np.median(used.length):.1f} px, TV weight base "
              f"{config.base:.5f}", flush=True)
        if estimate.camera is not None:
            print(f"  {camera_fit_summary(estimate.camera)}", flush=True)


def camera_fit_summary(fit: CameraFit) -> str:
    """What the camera model saw (residual, pooled dip, best scale) and whether it was used."""
    scale = abs(fit.refined.alpha) / max(abs(fit.fitted.alpha), 1e-9)
    return (f"camera model {'used' if fit.accepted else 'not used'}: fit residual "
            f"{fit.residual:.3f} (max {MAX_RESIDUAL}), pooled margin {fit.margin:.2f} "
            f"(needs <= -{MIN_MARGIN}), best scale of the fitted motion {scale:.2f} "
            f"(search {SCALES[0]}-{SCALES[-1]}"
            + (f"; the wide search of a translation, {WIDE_SCALES[0]}-{WIDE_SCALES[-1]})"
               if fit.wide else ")"))


if __name__ == "__main__":
    main()
