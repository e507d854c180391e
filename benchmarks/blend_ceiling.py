"""Deblurring less where the estimate is unconfirmed: what it can gain (held-out Train400 only).

For each case of the blind benchmark's held-out split (``blind.py --tuning``: the three field
kinds, moderate and severe, linear and realistic), ``deblur()`` as shipped gives ``x`` from the
blurry ``y``. Two ways of keeping less of the restoration ``x - y`` are scored against it:

* *tempering* by the estimate's confidence ``c`` (the cepstral check, in [0, 1]):
  ``y + (w + (1 - w) c) (x - y)``, so unconfirmed pixels keep the share ``w``;
* the *oracle* blend: per case the best single ``y + a (x - y)``, ``a`` in 0, 0.1, ..., 1.5,
  chosen with the sharp image: the most any one weight per image could gain.

The first half of the images and the second are reported apart (choose / check).

    python benchmarks/blend_ceiling.py [--data ../shared/data] [--images 24]
"""

from __future__ import annotations

import numpy as np
from _common import machine, psnr, save
from blind import KINDS, VARIANTS, by_halves, held_out_arguments, held_out_rows

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.settings import DeblurSettings

SHARES = (0.6, 0.7, 0.8)
ORACLE = np.round(np.arange(0.0, 1.51, 0.1), 2)


def run_case(sharp, kind, max_length, variant, seed):
    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
    y = obs.blurred
    settings = DeblurSettings()
    estimate = estimate_with_confidence(y, settings=settings.estimation.replace(device="cpu"))
    used = estimate.for_deblurring(settings.length_scale)
    confidence = estimate.confidence  # gray images: (H, W), as the result
    x = deconvolve(y, used, settings=settings.deconvolution_for(confidence).replace(device="cpu"))
    row = {"kind": kind, "variant": variant, "confidence": float(np.mean(confidence)),
           "psnr_blurry": psnr(y, obs.sharp), "psnr_deblur": psnr(x, obs.sharp)}
    for w in SHARES:
        row[f"psnr_temper{w:g}"] = psnr(y + (w + (1 - w) * confidence) * (x - y), obs.sharp)
    row["psnr_oracle"] = max(psnr(y + a * (x - y), obs.sharp) for a in ORACLE)
    return row


def table(title, rows):
    columns = ["deblur", *(f"temper{w:g}" for w in SHARES), "oracle"]
    lines = [f"### {title}", "", "| variant | cases | PSNR blurry | " + " | ".join(
        f"gain {c}" for c in columns) + " | below blurry: " + " / ".join(columns[:-1]) + " |",
        "|---|---|---|" + "---|" * (len(columns) + 1)]
    for variant in VARIANTS:
        group = [r for r in rows if r["variant"] == variant]
        gains = [np.mean([r[f"psnr_{c}"] - r["psnr_blurry"] for r in group]) for c in columns]
        below = [sum(r[f"psnr_{c}"] < r["psnr_blurry"] for r in group) for c in columns[:-1]]
        lines.append(f"| {variant} | {len(group)} | "
                     f"{np.mean([r['psnr_blurry'] for r in group]):.2f} | "
                     + " | ".join(f"{g:+.3f}" for g in gains) + " | "
                     + " / ".join(str(b) for b in below) + " |")
    return lines


def main(argv=None):
    args, every_held_out = held_out_arguments(__doc__.splitlines()[0], 24, argv)
    held_out = every_held_out[: args.images]
    rows = held_out_rows(held_out, run_case, seed=5000)
    lines = ["# Deblurring less where unconfirmed: tempering and the per-image oracle", "",
             *(part.replace("\n  ", " ") if part.startswith("*") else part.replace("\n", " ")
               for part in __doc__.split("\n\n")[1:4]), "",
             "Gains in dB over the blurry input (mean); below blurry = cases under the blurry "
             "input's PSNR.", "", f"Machine: {machine(args.threads)}.", ""]
    lines += by_halves(table, rows, len(held_out))
    save("blend_ceiling", {"machine": machine(args.threads), "rows": rows,
                           "shares": SHARES}, "\n".join(lines))


if __name__ == "__main__":
    main()
