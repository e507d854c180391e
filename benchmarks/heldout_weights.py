"""Choose Motion-Net weights on held-out training images: two weight files, `deblur()` as shipped.

For each of ``--images`` held-out Train400 images (the training script's every-10th split,
starting at ``--first``; never a test image) and each case of the blind benchmark (strong
camera shake, moving objects, uniform motion; <= 21 / <= 35 px; linear / realistic), the blurred
image is deblurred the way ``deblur()`` does it (estimate with 4 test-time passes, the cepstral
check and the camera model; unconfirmed lengths times the default length scale, or ``--scale-b``
with b's weights; the confidence-following TV weight), once with each weight file. Reported
per half of the images (choose / check), variant and field kind: the PSNR gain over the blurry
input with and without the learned refiner, the cases that end below the blurry input, the
median length-ratio error and the field error of the estimate.

    python benchmarks/heldout_weights.py --a src/napari_motion_deblur/resources/motionnet.pt \
        --b runs/motionnet/motionnet.pt [--first 12 --images 12] [--scale-b 0.8] \
        [--quantile-b 0.4]
    python benchmarks/heldout_weights.py --name heldout_weights_long --render  # md from json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from _common import RESULTS, machine, psnr, save
from blind import (
    KINDS,
    VARIANTS,
    by_halves,
    held_out_arguments,
    held_out_images,
    held_out_rows,
    length_ratio_error,
)

from napari_motion_deblur import deblur, deconvolve
from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.estimation.motionnet import streak_error, use_weights
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.settings import DeblurSettings

DEFAULTS = DeblurSettings()
SETTINGS = DEFAULTS.replace(estimation=DEFAULTS.estimation.replace(device="cpu"),
                            deconvolution=DEFAULTS.deconvolution.replace(device="cpu"))
NAMES = ("a", "b")


def deblurred(blurred: np.ndarray, length_scale: float = SETTINGS.length_scale) -> dict:
    """``deblur()``'s steps with the weights in use: the estimate, the result and the result
    without the refiner."""
    estimate = estimate_with_confidence(blurred, settings=SETTINGS.estimation)
    field = estimate.for_deblurring(length_scale)
    config = SETTINGS.deconvolution_for(estimate.confidence)
    return {"estimate": estimate.field, "refined": deconvolve(blurred, field, settings=config),
            "unrefined": deconvolve(blurred, field, settings=config.replace(refine=False))}


def check_steps(blurred: np.ndarray) -> None:
    """The steps above must give ``deblur()``'s own result (one case, before the run)."""
    if not np.array_equal(deblur(blurred, settings=SETTINGS)[0], deblurred(blurred)["refined"]):
        raise SystemExit("the replayed chain differs from deblur()")


def case_runner(weights: dict[str, Path], scales: dict[str, float],
                quantiles: dict[str, float | None]):
    def run_case(sharp, kind, max_length, variant, seed) -> dict:
        field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
        obs = degrade(sharp, field, seed, realistic=variant == "realistic")
        row = {"kind": kind, "variant": variant, "max_length": max_length,
               "blurry": psnr(obs.blurred, obs.sharp)}
        for name, path in weights.items():
            model = use_weights(path, device="cpu")
            if quantiles[name] is not None:  # read the length bins at another quantile
                model.set_length_quantile(quantiles[name])
            out = deblurred(obs.blurred, scales[name])
            row.update({f"refined_{name}": psnr(out["refined"], obs.sharp),
                        f"unrefined_{name}": psnr(out["unrefined"], obs.sharp),
                        f"length_error_{name}": length_ratio_error(out["estimate"], obs.field),
                        f"mse_{name}": streak_error(out["estimate"], obs.field)})
        return row
    return run_case


def table(title: str, rows: list[dict]) -> list[str]:
    keys = [f"{step}_{n}" for step in ("refined", "unrefined") for n in NAMES]
    lines = [f"### {title}", "",
             "| variant | kind | cases | gain " + " / ".join(keys) + " | below blurry "
             + " / ".join(keys) + " | length err. a / b | field MSE a / b |",
             "|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        for kind in (*KINDS, "all"):
            sub = [r for r in rows if r["variant"] == variant and kind in ("all", r["kind"])]
            gains = " / ".join(f"{np.mean([r[k] - r['blurry'] for r in sub]):+.2f}" for k in keys)
            below = " / ".join(str(sum(r[k] < r["blurry"] for r in sub)) for k in keys)
            errors = " / ".join(f"{np.nanmedian([r[f'length_error_{n}'] for r in sub]):.2f}"
                                for n in NAMES)
            mses = " / ".join(f"{np.mean([r[f'mse_{n}'] for r in sub]):.1f}" for n in NAMES)
            lines.append(f"| {variant} | {kind} | {len(sub)} | {gains} | {below} | {errors} "
                         f"| {mses} |")
    return lines


def per_case(title: str, rows: list[dict]) -> list[str]:
    """b's `deblur()` PSNR minus a's, case by case: mean, median, how many cases each way."""
    lines = [f"#### {title}: b - a per case (`deblur()`)", "",
             "| variant | cases | mean | median | b higher (> 0.05 dB) | b lower | worst |",
             "|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        d = np.array([r["refined_b"] - r["refined_a"] for r in rows if r["variant"] == variant])
        lines.append(f"| {variant} | {len(d)} | {d.mean():+.2f} | {np.median(d):+.3f} | "
                     f"{int(np.sum(d > 0.05))} | {int(np.sum(d < -0.05))} | {d.min():+.2f} |")
    return lines


def render(payload: dict) -> str:
    """The markdown of a run's results (``payload``: what :func:`main` saves as JSON)."""
    rows, images = payload["rows"], payload["images"]
    scales = payload.get("scales")  # runs before scales were recorded used their default
    quantile = payload.get("quantiles", {}).get("b")
    return "\n".join([
        "# Motion-Net weights compared on held-out Train400 images (`deblur()` as shipped)", "",
        f"a = `{payload['a']}`, b = `{payload['b']}`; unconfirmed lengths "
        + (f"x{scales['a']:g} (a) and x{scales['b']:g} (b)" if scales else
           "times the default of the run's date")
        + (f", b's lengths at quantile {quantile:g}" if quantile else "")
        + f"; held-out images {payload['first']}..{payload['first'] + images - 1} of the "
        f"training script's split; {len(rows)} cases. Gain = PSNR - blurry PSNR (dB, mean); "
        "refined = `deblur()`, unrefined = `deblur(refine=False)`; length err. = median "
        "|l_est/l - 1| (pixels with l >= 3 px); field MSE in px^2 (sign-free streak vectors).",
        "", f"Machine: {payload['machine']}.", "", *by_halves(table, rows, images), "",
        *by_halves(per_case, rows, images)])


def main(argv=None):
    def extend(parser):
        parser.add_argument("--a", type=Path, help="first weight file")
        parser.add_argument("--b", type=Path, help="second weight file")
        parser.add_argument("--first", type=int, default=12,
                            help="first held-out image (blind_ablations.py uses 0-11)")
        parser.add_argument("--name", default="heldout_weights", help="results file name")
        parser.add_argument("--scale-b", type=float, default=SETTINGS.length_scale,
                            help="length scale of unconfirmed lengths with b's weights")
        parser.add_argument("--quantile-b", type=float, default=None,
                            help="b's length quantile, if its weights classify lengths "
                                 "(default: the one they were saved with)")
        parser.add_argument("--render", action="store_true",
                            help="only rewrite results/NAME.md from results/NAME.json")

    args, _ = held_out_arguments(__doc__.splitlines()[0], 12, argv, extend, load=False)
    if args.render:
        payload = json.loads((RESULTS / f"{args.name}.json").read_text())
        (RESULTS / f"{args.name}.md").write_text(render(payload) + "\n")
        return
    if args.a is None or args.b is None:
        raise SystemExit("--a and --b (two weight files) are needed, or --render")
    if args.quantile_b is not None and not 0 < args.quantile_b < 1:
        raise SystemExit("--quantile-b must be in (0, 1)")
    images = held_out_images(args)[args.first : args.first + args.images]
    weights = {"a": args.a, "b": args.b}
    use_weights(args.a, device="cpu")
    check_steps(degrade(images[0][:160, :160], KINDS["camera"](
        (160, 160), np.random.default_rng(1), max_length=21.0), 1).blurred)
    scales = {"a": SETTINGS.length_scale, "b": args.scale_b}
    quantiles = {"a": None, "b": args.quantile_b}
    rows = held_out_rows(images, case_runner(weights, scales, quantiles), seed=12000)
    payload = {"machine": machine(args.threads), "a": str(args.a), "b": str(args.b),
               "scales": scales, "quantiles": quantiles, "first": args.first,
               "images": len(images), "rows": rows}
    save(args.name, payload, render(payload))


if __name__ == "__main__":
    main()
