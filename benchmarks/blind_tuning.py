"""How blind deblurring uses Motion-Net: passes, cepstral check, length scale and TV weight.

Tuned on images the network never saw and that the motion benchmark does not use: the
training script's held-out validation split of train400 (every 10th image), blurred with the
camera-shake, object and uniform generators in the "moderate" (<= 21 px) and "severe"
(<= 35 px) sets, noise sigma 0.01, 20-px crop. For each setting: mean PSNR of IRC-Net
(5 stages x 2 iterations) with the estimate (unconfirmed lengths times ``scale``), next to the
blurry input and the true field, all with the node operator (``operator="nodes"``, as when
v0.1's defaults were chosen from this table). The current defaults were chosen on the harder
held-out tuning of ``benchmarks/blind.py --tuning`` (results/blind_tuning_v2.md).

    python benchmarks/blind_tuning.py [--data ../shared/data] [--images 12] [--threads 1]
"""

from __future__ import annotations

import itertools

import numpy as np
from _common import arguments, machine, observe, psnr, save
from motion import KINDS as FIELD_KINDS  # the same test conditions as the motion benchmark
from motion import SETS, SIGMA

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import MotionEstimate, estimate_with_confidence
from napari_motion_deblur.estimation.motionnet import streak_error
from napari_motion_deblur.estimation.spectral import cepstral_check
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.solvers.irc import DEFAULT_LAMBDA
from napari_motion_deblur.training.motionnet import folder_split

KINDS = tuple(FIELD_KINDS.values())
#: (passes, threshold of the cepstral check or None for no check)
ESTIMATES = ((1, None), (4, None), (4, 4.0), (4, 8.0), (4, 12.0))
SCALES = (0.6, 0.7, 0.8, 0.9, 1.0)
WEIGHTS = (1.0, 2.0)  # x DEFAULT_LAMBDA


def held_out_images(folder, count):
    """The training script's own held-out split of ``folder`` (never trained on)."""
    if not folder.is_dir():
        raise SystemExit(f"no image folder {folder}; pass --data")
    chosen = folder_split(folder)[1][:count]
    if not chosen:
        raise SystemExit(f"no usable images in {folder}; pass --data")
    return chosen


def sharp_confirmations(images) -> dict[float, float]:
    """Mean share of each sharp (noisy) image that the cepstral check confirms, per threshold."""
    shares = {t: [] for _, t in ESTIMATES if t is not None}
    for i, sharp in enumerate(images):
        noisy, _, _ = observe(sharp, MotionField.uniform(sharp.shape, 0.0, 0.0), SIGMA, 9000 + i)
        estimate = estimate_with_confidence(noisy, device="cpu", check=False)
        for threshold in shares:
            shares[threshold].append(cepstral_check(noisy, estimate.field,
                                                    threshold=threshold)[1].mean())
    return {t: float(np.mean(v)) for t, v in shares.items()}


def main():
    args = arguments(__doc__.splitlines()[0], images=12)
    images = held_out_images(args.data / "train400", args.images)
    settings = list(itertools.product(ESTIMATES, SCALES, WEIGHTS))
    results, lines = {}, []
    for s, (set_name, max_length) in enumerate(SETS.items()):
        scores = {key: [] for key in settings}
        blurry, true, mse = [], [], {e: [] for e in ESTIMATES}
        for i, sharp in enumerate(images):
            for k, make_field in enumerate(KINDS):
                seed = 7000 + 1000 * s + 10 * i + k
                field = make_field(sharp.shape, np.random.default_rng(seed),
                                   max_length=max_length)
                blurred, truth, field = observe(sharp, field, SIGMA, seed)
                blurry.append(psnr(blurred, truth))
                true.append(psnr(deconvolve(blurred, field, device="cpu", operator="nodes"),
                                 truth))
                for passes, check in ESTIMATES:
                    estimate = estimate_with_confidence(blurred, device="cpu", passes=passes,
                                                        check=False)
                    if check is not None:  # gray images: the luminance is the image
                        estimate = MotionEstimate(*cepstral_check(blurred, estimate.field,
                                                                  threshold=check))
                    mse[(passes, check)].append(streak_error(estimate.field, field))
                    for scale, weight in itertools.product(SCALES, WEIGHTS):
                        out = deconvolve(blurred, estimate.for_deblurring(scale), device="cpu",
                                         regularization=weight * DEFAULT_LAMBDA,
                                         operator="nodes")
                        scores[((passes, check), scale, weight)].append(psnr(out, truth))
            print(f"{set_name}: image {i + 1}/{len(images)}", flush=True)
        table = {f"passes={p} check={c} scale={sc} lambda={w}x": float(np.mean(v))
                 for ((p, c), sc, w), v in scores.items()}
        best = max(table, key=table.get)
        results[set_name] = {"psnr_blurry": float(np.mean(blurry)),
                             "psnr_true_field": float(np.mean(true)),
                             "streak_mse": {f"passes={p} check={c}": float(np.mean(v))
                                            for (p, c), v in mse.items()},
                             "psnr": table, "best": best, "cases": len(blurry)}
        lines += [f"\n### {set_name} (lengths up to {max_length:g} px, {len(blurry)} cases)\n",
                  f"Blurry {np.mean(blurry):.2f} dB, true field {np.mean(true):.2f} dB; "
                  "Motion-Net streak MSE " + ", ".join(
                      f"{p} pass(es){f' + check at {c:g}' if c else ''} {np.mean(v):.1f} px^2"
                      for (p, c), v in mse.items())
                  + f". Best setting: {best}.\n",
                  "| passes | cepstral check (threshold) | lambda | "
                  + " | ".join(f"scale {sc}" for sc in SCALES) + " |",
                  "|---|---|---|" + "---|" * len(SCALES)]
        for (passes, check), weight in itertools.product(ESTIMATES, WEIGHTS):
            cells = [f"{np.mean(scores[((passes, check), sc, weight)]):.2f}" for sc in SCALES]
            lines.append(f"| {passes} | {check if check else 'no'} | {weight:g}x | "
                         + " | ".join(cells) + " |")
    spurious = sharp_confirmations(images)
    lines += ["\n### Spurious confirmations on sharp images\n",
              "The same images unblurred (noise sigma 0.01 only), Motion-Net's estimate (4 "
              "passes) checked: share of the image the check confirms (every confirmation is "
              "wrong here; a confirmed streak is deblurred at full length).\n",
              "| threshold | confirmed share |", "|---|---|"]
    lines += [f"| {t:g} | {share:.3f} |" for t, share in spurious.items()]
    results["sharp_confirmed_share"] = {str(t): v for t, v in spurious.items()}
    header = ["# Blind deblurring settings (held-out train400 images)\n",
              f"{len(images)} images (the training's validation split, never trained on, not "
              "in the motion benchmark) x 3 field kinds per set, noise sigma 0.01. PSNR (dB) of "
              "IRC-Net with the Motion-Net estimate, lengths not confirmed by the cepstral check "
              "times `scale`, TV weight `lambda` x the non-blind default.\n",
              f"Machine: {machine(args.threads)}."]
    save("blind_tuning", {"machine": machine(args.threads), "sets": results},
         "\n".join(header + lines))


if __name__ == "__main__":
    main()
