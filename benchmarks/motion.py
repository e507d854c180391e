"""Blind motion estimation: Motion-Net vs the spectral (cepstral) baseline vs simple references.

Set12 (never used in training), each image blurred with fields from the project's generators
(camera shake, piecewise object motion, uniform), in two sets: "moderate" (lengths up to 21 px)
and "severe" (up to 35 px); noise sigma 0.01; then cropped by 20 px (unknown boundaries).

Motion metric: mean per-pixel squared distance between streak vectors ``l (cos a, -sin a)``,
minimized over the sign (px^2), for Motion-Net as shipped (4 test-time passes + cepstral check)
and the plain network (1 pass, no check). References: the zero-motion field, and the
best-uniform oracle (the single uniform field minimizing the metric, found by an exact search
over the angle with the optimal length in closed form). Blind PSNR: ``deblur()`` as shipped
(estimate with the cepstral check, unconfirmed lengths x ``BLIND_LENGTH_SCALE``, IRC-Net 5 x 2
with the blind TV weight) vs IRC-Net with the plain network's estimate vs with the true field
(non-blind) vs the blurry input.

    python benchmarks/motion.py [--data ../shared/data] [--images 12] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from _common import DATA, load_set12, machine, observe, psnr, save, timed

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import deblur, estimate_motion
from napari_motion_deblur.estimation.motionnet import streak_error, use_weights
from napari_motion_deblur.motion import MAX_LENGTH, MotionField
from napari_motion_deblur.physics.synthesis import (
    camera_shake_field,
    object_motion_field,
    uniform_random_field,
)
from napari_motion_deblur.settings import BLIND_LENGTH_SCALE
from napari_motion_deblur.solvers.refiner import refine

SIGMA = 0.01
SETS = {"moderate": 21.0, "severe": 35.0}
KINDS = {"camera": camera_shake_field, "objects": object_motion_field,
         "uniform": uniform_random_field}
#: Column name -> estimate_motion() arguments.
ESTIMATORS = {"motionnet": {"method": "motionnet"},
              "motionnet_1pass": {"method": "motionnet", "passes": 1, "check": False},
              "spectral": {"method": "spectral"}}


def best_uniform(field: MotionField, step: float = 0.25) -> tuple[MotionField, float]:
    """The uniform field minimizing :func:`streak_error` against ``field``, and its error.

    For a trial angle ``t`` the error is ``mean(L^2) + l^2 - 2 l mean(L |cos(t - a)|)``,
    minimized by ``l = mean(L |cos(t - a)|)``; the angle is searched on a fine grid.
    """
    lengths = np.where(field.length > 1.0, np.minimum(field.length, MAX_LENGTH), 0.0)
    lengths = lengths.astype(np.float64).ravel()
    angles = np.radians(field.angle.astype(np.float64)).ravel()
    trial = np.radians(np.arange(0.0, 180.0, step))
    best = (np.inf, 0.0, 0.0)
    for chunk in np.array_split(trial, 16):
        proj = np.abs(np.cos(chunk[:, None] - angles[None])) @ lengths / lengths.size
        k = int(np.argmax(proj))
        err = float(np.mean(lengths**2) - proj[k] ** 2)
        if err < best[0]:
            best = (err, float(proj[k]), float(np.degrees(chunk[k])))
    err, length, angle = best
    return MotionField.uniform(field.shape, length, angle), err


def run_case(name, sharp, kind, max_length, seed):
    rng = np.random.default_rng(seed)
    field = KINDS[kind](sharp.shape, rng, max_length=max_length)
    blurred, truth, field = observe(sharp, field, SIGMA, seed)
    row = {"image": name, "kind": kind, "shape": list(truth.shape),
           "true_mean_length": float(np.mean(field.length))}
    row["mse_zero"] = streak_error(MotionField.uniform(field.shape, 0.0, 0.0), field)
    row["mse_oracle_uniform"] = best_uniform(field)[1]
    estimates = {}
    for column, kwargs in ESTIMATORS.items():
        est, seconds = timed(estimate_motion, blurred, device="cpu", **kwargs)
        estimates[column] = est
        row[f"mse_{column}"] = streak_error(est, field)
        row[f"seconds_{column}"] = seconds
    row["psnr_blurry"] = psnr(blurred, truth)
    # The data here is made by the node operator, so the non-blind columns use it too.
    row["psnr_true_field"] = psnr(deconvolve(blurred, field, device="cpu", operator="nodes"),
                                  truth)
    row["psnr_raw_1pass"] = psnr(deconvolve(blurred, estimates["motionnet_1pass"],
                                            operator="nodes",
                                            device="cpu"), truth)
    for method in ("motionnet", "spectral"):
        # deblur(refine=False), then the refiner as deblur() applies it to a gray image: both
        # columns from one estimate and one deconvolution.
        unrefined, used = deblur(blurred, method=method, device="cpu", refine=False)
        row[f"psnr_deblur_{method}"] = psnr(refine(unrefined, blurred, used, "cpu"), truth)
        row[f"psnr_norefine_{method}"] = psnr(unrefined, truth)
    return row


def summarize(rows, keys):
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def describe_weights(weights: dict | None) -> str:
    """One line on the weights from their metadata (a fine-tune also names its base)."""
    if not weights:
        return "Weights: missing."
    line = (f"Weights: {weights.get('version', 'v0.1')}, {weights.get('minutes', '?')} training "
            f"minutes, validation {weights['validation']['best']:.2f} px^2 (zero field "
            f"{weights['validation']['zero_field']:.2f}; "
            f"{weights['validation'].get('mode', 'node')} crops)")
    base = weights.get("base")
    if base:
        line += (f", fine-tuned from weights trained {base.get('minutes', '?')} minutes "
                 f"(validation {base['validation']['best']:.2f} px^2 on node crops)")
    return line + "."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", type=Path, default=None,
                        help="Motion-Net weights instead of the packaged ones (their .json "
                             "metadata beside them); e.g. weights/motionnet_finetuned_exact.pt")
    parser.add_argument("--name", default="motion", help="results file name")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.weights is not None:
        use_weights(args.weights)
    images = load_set12(args.data / "set12", args.images)
    meta_path = (args.weights.with_suffix(".json") if args.weights is not None else
                 Path(__file__).resolve().parents[1] / "resources" / "motionnet.json")
    weights = json.loads(meta_path.read_text()) if meta_path.exists() else None

    mse_keys = ["mse_motionnet", "mse_motionnet_1pass", "mse_spectral", "mse_oracle_uniform",
                "mse_zero"]
    psnr_keys = ["psnr_blurry", "psnr_true_field", "psnr_deblur_motionnet",
                 "psnr_norefine_motionnet", "psnr_raw_1pass", "psnr_deblur_spectral"]
    results, lines = {}, []
    for s, (set_name, max_length) in enumerate(SETS.items()):
        rows = []
        for i, (name, sharp) in enumerate(images):
            for k, kind in enumerate(KINDS):
                seed = 1000 * s + 10 * i + k
                rows.append(run_case(name, sharp, kind, max_length, seed))
                r = rows[-1]
                print(f"{set_name} {name} {kind}: mse net {r['mse_motionnet']:.1f} spectral "
                      f"{r['mse_spectral']:.1f} oracle {r['mse_oracle_uniform']:.1f} zero "
                      f"{r['mse_zero']:.1f} | psnr blurry {r['psnr_blurry']:.2f} true "
                      f"{r['psnr_true_field']:.2f} deblur {r['psnr_deblur_motionnet']:.2f}",
                      flush=True)
        by_kind = {kind: summarize([r for r in rows if r["kind"] == kind], mse_keys + psnr_keys)
                   for kind in KINDS}
        nonuniform = summarize([r for r in rows if r["kind"] != "uniform"], mse_keys + psnr_keys)
        overall = summarize(rows, mse_keys + psnr_keys)
        results[set_name] = {"max_length": max_length, "overall": overall,
                             "nonuniform": nonuniform, "by_kind": by_kind, "cases": rows}
        lines.append(f"\n### {set_name} (lengths up to {max_length:g} px, {len(rows)} cases)\n")
        lines.append("| fields | MSE Motion-Net (4 passes + check) | MSE network (1 pass) "
                     "| MSE spectral | MSE best uniform (oracle) | MSE zero field | PSNR blurry "
                     "| PSNR true field | PSNR deblur() Motion-Net | PSNR the same, refine=False "
                     "| PSNR network's estimate "
                     "| PSNR deblur() spectral |")
        lines.append("|---|" + "---|" * (len(mse_keys) + len(psnr_keys)))
        for label, summary in [*by_kind.items(), ("non-uniform (camera+objects)", nonuniform),
                               ("all", overall)]:
            lines.append(f"| {label} | " + " | ".join(f"{summary[k]:.1f}" for k in mse_keys)
                         + " | " + " | ".join(f"{summary[k]:.2f}" for k in psnr_keys) + " |")
    timing = {f"{column}_s_per_512x512": float(np.median(
        [r[f"seconds_{column}"] / np.prod(r["shape"]) * 512 * 512
         for res in results.values() for r in res["cases"]])) for column in ESTIMATORS}
    targets = {}
    for set_name, res in results.items():
        nu, ov = res["nonuniform"], res["overall"]
        targets[set_name] = {
            "net_below_oracle_nonuniform": nu["mse_motionnet"] < nu["mse_oracle_uniform"],
            "net_at_most_half_spectral": ov["mse_motionnet"] <= 0.5 * ov["mse_spectral"],
            "blind_within_1.5dB_of_nonblind":
                ov["psnr_true_field"] - ov["psnr_deblur_motionnet"] <= 1.5,
            "blind_at_least_blurry_plus_2dB":
                ov["psnr_deblur_motionnet"] >= ov["psnr_blurry"] + 2.0,
        }
    header = [
        "# Blind motion estimation (Motion-Net, spectral baseline)\n",
        f"Set12, {len(images)} images x 3 field kinds per set, noise sigma {SIGMA}, 20-px crop. "
        "Motion error: mean sign-free squared streak-vector distance (px^2, lower is better). "
        "PSNR (dB): `deblur()` as shipped (Motion-Net 4 passes + cepstral check + camera model, "
        f"unconfirmed lengths x{BLIND_LENGTH_SCALE:g}, IRC-Net 5x2 with the blind TV weight, "
        f"then the learned refiner; spectral: all lengths x{BLIND_LENGTH_SCALE:g}), the same "
        "with `refine=False`, IRC-Net 5x2 "
        "with the raw 1-pass estimate (no check) and with the true field. MSE columns: "
        "`estimate_motion()` as shipped (4 passes + check) and the plain network (1 pass, no "
        "check).\n",
        f"Machine: {machine(args.threads)}. Estimation time per 512x512 (median): Motion-Net "
        f"4 passes + check {timing['motionnet_s_per_512x512']:.2f} s, network (1 pass) "
        f"{timing['motionnet_1pass_s_per_512x512']:.2f} s, spectral "
        f"{timing['spectral_s_per_512x512']:.2f} s.\n",
        describe_weights(weights),
    ]
    target_lines = ["\n### Targets (issue 3)\n", "| set | target | met |", "|---|---|---|"]
    for set_name, checks in targets.items():
        target_lines += [f"| {set_name} | {k} | {'yes' if v else 'no'} |"
                         for k, v in checks.items()]
    payload = {"machine": machine(args.threads), "sigma": SIGMA, "timing": timing,
               "weights": weights, "targets": targets, "sets": results}
    save(args.name, payload, "\n".join(header + lines + target_lines))


if __name__ == "__main__":
    main()
