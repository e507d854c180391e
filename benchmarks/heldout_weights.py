"""Choose Motion-Net weights on held-out training images: two weight files, the blind chain.

For each of ``--count`` held-out Train400 images (the training script's every-10th split,
starting at ``--first``; never a test image), each field kind of ``blind.py`` (strong camera
shake, moving objects, uniform), both length sets (<= 21 / <= 35 px) and both variants (linear,
realistic), the blurred image is estimated with each weight file (4 test-time passes and the
cepstral check, as ``deblur()`` does) and deconvolved as ``deblur()`` does, with the
unconfirmed lengths x0.8 and x1.0. Reported per variant and field kind: PSNR gain over the
blurry input, cases that end below it, median length-ratio error and field error.

    python benchmarks/heldout_weights.py --a benchmarks/weights/motionnet_v0.1.pt \
        --b src/napari_motion_deblur/resources/motionnet.pt [--first 8 --count 8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from _common import DATA, machine, psnr, save
from blind import KINDS, centre_crop, length_ratio_error, luminance_of

from napari_motion_deblur import deconvolve
from napari_motion_deblur.estimation.api import MotionEstimate
from napari_motion_deblur.estimation.motionnet import load_weights, predict, streak_error
from napari_motion_deblur.estimation.spectral import cepstral_check
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.settings import DeblurSettings
from napari_motion_deblur.training.motionnet import folder_split

SCALES = (0.8, 1.0)


def run(args) -> list[dict]:
    held_out = folder_split(args.data / "train400")[1][args.first : args.first + args.count]
    nets = {"a": load_weights(str(args.a)), "b": load_weights(str(args.b))}
    settings = DeblurSettings().deconvolution.replace(device="cpu")
    rows = []
    for i, image in enumerate(held_out):
        sharp = centre_crop(image)
        for kind in KINDS:
            for max_length in (21.0, 35.0):
                for variant in ("linear", "realistic"):
                    seed = 8000 + i * 10 + list(KINDS).index(kind) * 2 + int(max_length == 35)
                    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed),
                                        max_length=max_length)
                    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
                    lum = luminance_of(obs.blurred)
                    row = {"image": args.first + i, "kind": kind, "max_length": max_length,
                           "variant": variant, "blurry": psnr(obs.blurred, obs.sharp)}
                    for name, net in nets.items():
                        estimate = MotionEstimate(*cepstral_check(
                            lum, predict(net, lum, "cpu", passes=4)))
                        row[f"length_error_{name}"] = length_ratio_error(estimate.field, obs.field)
                        row[f"mse_{name}"] = streak_error(estimate.field, obs.field)
                        for scale in SCALES:
                            result = deconvolve(obs.blurred, estimate.for_deblurring(scale),
                                                settings=settings)
                            row[f"{name}{scale}"] = psnr(result, obs.sharp)
                    rows.append(row)
                    print(row, flush=True)
    return rows


def report(rows: list[dict], args) -> str:
    keys = [f"{n}{s}" for n in ("a", "b") for s in SCALES]
    lines = ["# Motion-Net weights compared on held-out Train400 images (blind chain)\n",
             f"a = `{args.a}`, b = `{args.b}`; held-out images {args.first}.."
             f"{args.first + args.count - 1} of the training script's split; "
             f"{len(rows)} cases. Gain = PSNR - blurry PSNR (dB), mean; a0.8 = weights a with "
             "unconfirmed lengths x0.8 (as `deblur()`).\n",
             f"Machine: {machine(2)}.\n",
             "| variant | kind | cases | gain " + " / ".join(keys) + " | below blurry "
             + " / ".join(keys) + " | length err. a / b | field MSE a / b |",
             "|---|---|---|---|---|---|---|"]
    for variant in ("linear", "realistic"):
        for kind in (*KINDS, "all"):
            sub = [r for r in rows if r["variant"] == variant and kind in ("all", r["kind"])]
            gains = " / ".join(f"{np.mean([r[k] - r['blurry'] for r in sub]):+.2f}" for k in keys)
            below = " / ".join(str(sum(r[k] < r["blurry"] for r in sub)) for k in keys)
            errors = " / ".join(f"{np.median([r[f'length_error_{n}'] for r in sub]):.2f}"
                                for n in "ab")
            mses = " / ".join(f"{np.mean([r[f'mse_{n}'] for r in sub]):.1f}" for n in "ab")
            lines.append(f"| {variant} | {kind} | {len(sub)} | {gains} | {below} | {errors} "
                         f"| {mses} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--a", type=Path, required=True, help="first weight file")
    parser.add_argument("--b", type=Path, required=True, help="second weight file")
    parser.add_argument("--first", type=int, default=8)
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--rows", type=Path, default=None,
                        help="report the rows of an earlier run (its JSON) instead of running")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    rows = json.loads(args.rows.read_text())["rows"] if args.rows else run(args)
    save("heldout_weights", {"machine": machine(2), "a": str(args.a), "b": str(args.b),
                             "first": args.first, "count": args.count, "rows": rows},
         report(rows, args))


if __name__ == "__main__":
    main()
