"""Blind deblurring on data made independently of IRC-Net's operator, linear and realistic.

Test images: Set12 (gray) and CBSD68 (colour), central crops of at most 320 x 320; or, with
``--tuning``, the training script's held-out Train400 split (gray; the only images settings
may be chosen on). Every image is blurred by the exact per-pixel operator
(``physics/reference.py``, not the node-based operator IRC-Net uses), with fields of three
kinds: strong camera shake led by rotation and zoom (``strong_shake_field``), moving objects
and uniform motion, in two sets: moderate (longest streak <= 21 px) and severe (<= 35 px).
Each case has two variants (``physics/degradation.py``):

* linear: linear streaks, Gaussian noise sigma 0.01;
* realistic: blur in linear light along curved paths, 0.5-3 % clipped highlights,
  Poisson-Gaussian noise, sRGB encoding, JPEG 90.

Then 20 px of border are cut, so that no method knows the exterior. Reported per set: field
error (sign-free streak-vector MSE, px^2) of the estimate, the best uniform field (oracle) and
the zero field; median length-ratio error ``median |l_est / l - 1|`` over pixels with
``l >= 3``; PSNR/SSIM of the blurry input, of IRC-Net with the true (linear) field (non-blind)
and of each blind chain (the ablation rows); how many cases end below the blurry input.

    python benchmarks/blind.py [--data ../shared/data] [--images 6] [--tuning] [--chains a,b]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _common import DATA, machine, psnr, save, ssim
from motion import best_uniform
from skimage import io

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import (
    BLIND_REGULARIZATION,
    MotionEstimate,
    deblur,
    estimate_with_confidence,
)
from napari_motion_deblur.estimation.motionnet import (
    load_weights,
    luminance,
    predict,
    streak_error,
    use_weights,
)
from napari_motion_deblur.estimation.spectral import cepstral_check
from napari_motion_deblur.motion import MAX_LENGTH, MotionField
from napari_motion_deblur.physics.compression import looks_jpeg_compressed
from napari_motion_deblur.physics.degradation import degrade, strong_shake_field
from napari_motion_deblur.physics.synthesis import object_motion_field, uniform_random_field
from napari_motion_deblur.settings import DeblurSettings, DeconvolutionSettings
from napari_motion_deblur.solvers.refiner import get_refiner, load_refiner, refine
from napari_motion_deblur.training.motionnet import folder_split

SETS = {"moderate": 21.0, "severe": 35.0}
KINDS = {"camera": strong_shake_field, "objects": object_motion_field,
         "uniform": uniform_random_field}
VARIANTS = ("linear", "realistic")
SIDE = 320
#: Seeds of each data set's cases (the same cases whichever sets one run covers).
DATASET_SEEDS = {"set12": 0, "cbsd68": 1, "train400-held-out": 2}


#: Motion-Net as shipped in v0.1 (trained on the node operator's blur only); the ablation rows
#: up to ``scale0.7`` use it, so that each row changes one thing.
BASELINE_WEIGHTS = Path(__file__).resolve().parent / "weights" / "motionnet_v0.1.pt"
_baseline: list = []


def baseline_estimate(blurred: np.ndarray) -> MotionField:
    """The v0.1 network's raw estimate (4 test-time passes, no cepstral check)."""
    if not _baseline:
        _baseline.append(load_weights(str(BASELINE_WEIGHTS)))
    return predict(_baseline[0], luminance_of(blurred), "cpu", passes=4)


def _chain(doc, threshold=8.0, scale=0.8, **deconvolution):
    deconvolution.setdefault("regularization", "auto")
    deconvolution.setdefault("operator", "nodes")
    settings = DeconvolutionSettings(device="cpu", base=BLIND_REGULARIZATION, **deconvolution)

    def run(blurred, raw):
        estimate = MotionEstimate(*cepstral_check(luminance_of(blurred), raw,
                                                  threshold=threshold))
        field = estimate.for_deblurring(scale)
        return deconvolve(blurred, field, settings=settings), field
    run.__doc__ = doc
    return run


def _chain_deblur(blurred, raw):
    """``deblur()`` as shipped now (its own estimate, with the shipped weights, or those of
    ``--weights``), with the learned refiner (`check4` is the same chain without it)."""
    return deblur(blurred, device="cpu")


_UNREFINED: dict = {}  # the last case's deblur(refine=False), shared by the rows below


def _deblur_unrefined(blurred):
    if _UNREFINED.get("image") is not blurred:
        _UNREFINED.update(image=blurred, result=deblur(blurred, device="cpu", refine=False))
    return _UNREFINED["result"]


def _chain_norefine(blurred, raw):
    """``deblur(refine=False)``: the shipped chain without its refiner."""
    return _deblur_unrefined(blurred)


def _chain_candidate(blurred, raw):
    """``deblur()`` with the refiner weights of ``--refiner`` (the unrefined result shared with
    `norefine`, then refined as ``deblur()`` refines colour: channel by channel)."""
    if CANDIDATE_REFINER.get("model") is None:
        raise SystemExit("the `candidate` chain needs --refiner WEIGHTS")
    result, used = _deblur_unrefined(blurred)
    return refine(result, blurred, used, model=CANDIDATE_REFINER["model"]), used


def _chain_one_view(blurred, raw):
    """``deblur()`` with its refiners applied as before the views were chosen: one view
    (``refiner_views=1``; the refiner picked by JPEG detection, as ``deblur()`` picks it)."""
    result, used = _deblur_unrefined(blurred)
    model = get_refiner(torch.device("cpu"), compressed=looks_jpeg_compressed(blurred))
    return refine(result, blurred, used, "cpu", model, views=1, strength=1.0), used


def _chain_candidate_x4(blurred, raw):
    """`candidate` averaged over 4 mirrorings of its input (test-time ensemble)."""
    if CANDIDATE_REFINER.get("model") is None:
        raise SystemExit("the `candidate_x4` chain needs --refiner WEIGHTS")
    result, used = _deblur_unrefined(blurred)
    total = np.zeros_like(result)
    for axes in ((), (0,), (1,), (0, 1)):
        def flip(a, axes=axes):
            return np.ascontiguousarray(np.flip(a, axes))

        field = MotionField(flip(used.length), flip(used.angle))  # lengths are what it reads
        total += flip(refine(flip(result), flip(np.asarray(blurred, np.float32)), field,
                             model=CANDIDATE_REFINER["model"]))
    return total / 4, used


CANDIDATE_REFINER: dict = {}
#: ``--candidate-weights``: the weight file to try, and the one to go back to after each case
#: (``--weights``, or None: the packaged ones).
CANDIDATE_WEIGHTS: dict = {}


def _chain_weights(blurred, raw):
    """``deblur()`` with the Motion-Net weights of ``--candidate-weights`` (every other step as
    shipped), next to `deblur` in the same run."""
    if not CANDIDATE_WEIGHTS:
        raise SystemExit("the `weights` chain needs --candidate-weights WEIGHTS")
    use_weights(CANDIDATE_WEIGHTS["candidate"], device="cpu")
    try:
        return deblur(blurred, device="cpu")
    finally:
        use_weights(CANDIDATE_WEIGHTS["shipped"], device="cpu")


def _chain_estimation(doc: str, **changes):
    """A chain: ``deblur()`` with these ``EstimationSettings`` changed (everything on the CPU)."""
    def run(blurred, raw):
        defaults = DeblurSettings()
        return deblur(blurred, settings=defaults.replace(
            estimation=defaults.estimation.replace(device="cpu", **changes),
            deconvolution=defaults.deconvolution.replace(device="cpu")))
    run.__doc__ = doc
    return run


_chain_nocamera = _chain_estimation(
    "``deblur()`` without the camera model (``EstimationSettings(camera=False)``): the chain "
    "shipped before it.", camera=False)
_chain_fine_camera = _chain_estimation(
    "``deblur()`` with the camera model at full resolution and in 128-px patches only "
    "(``EstimationSettings(camera_coarse=False, camera_fine=False)``): the chain shipped before "
    "the half-resolution cepstra were added for long motions.",
    camera_coarse=False, camera_fine=False, camera_wide=False)
_chain_single_patch = _chain_estimation(
    "``deblur()`` with the camera model's 128-px patches alone "
    "(``EstimationSettings(camera_fine=False)``): the chain shipped before the 64- and 96-px "
    "patches were added.", camera_fine=False, camera_wide=False)
_chain_no_wide = _chain_estimation(
    "``deblur()`` without the camera model's wide search of nearly translational motions "
    "(``EstimationSettings(camera_wide=False)``): the chain shipped before it.",
    camera_wide=False)


def _pcg_settings(refine: bool) -> DeblurSettings:
    defaults = DeblurSettings()
    return defaults.replace(
        estimation=defaults.estimation.replace(device="cpu"),
        deconvolution=defaults.deconvolution.replace(device="cpu", operator="exact",
                                                     solver="pcg", refine=refine))


def _chain_pcg(blurred, raw):
    """``deblur()`` with the exact data term and the conjugate-gradient x-update
    (``operator="exact", solver="pcg"``), with the refiner."""
    return deblur(blurred, settings=_pcg_settings(True))


def _chain_pcg_norefine(blurred, raw):
    """`pcg` without the refiner."""
    return deblur(blurred, settings=_pcg_settings(False))


def _chain_fixedtv(blurred, raw):
    """``deblur()`` with its TV weight always starting from twice the non-blind default
    (``DeblurSettings(confirmed_base=None)``): the chain shipped before the weight followed
    the estimate's confidence."""
    defaults = DeblurSettings(confirmed_base=None)
    settings = defaults.replace(estimation=defaults.estimation.replace(device="cpu"),
                                deconvolution=defaults.deconvolution.replace(device="cpu"))
    return deblur(blurred, settings=settings)


def _chain_scaled(scale):
    def run(blurred, raw):
        return deblur(blurred, device="cpu", length_scale=scale)
    run.__doc__ = f"``deblur(length_scale={scale})``: unconfirmed lengths x{scale} (tried)"
    return run


def _chain_linear_light(blurred, raw):
    """``deblur(linear_light=True)``: deconvolved in linear light (sRGB photographs: the
    realistic variant's blur happened there; the linear variant's did not), refined with the
    photo refiner (``resources/refiner_photo.pt``; before it, with the default refiner)."""
    return deblur(blurred, device="cpu", linear_light=True)


def _chain_linear_light_candidate(blurred, raw):
    """``deblur(linear_light=True)`` refined with the weights of ``--refiner`` instead of the
    shipped photo refiner (e.g. the default ``resources/refiner.pt``, as before it)."""
    if CANDIDATE_REFINER.get("model") is None:
        raise SystemExit("the `linearlight_candidate` chain needs --refiner WEIGHTS")
    result, used = deblur(blurred, device="cpu", linear_light=True, refine=False)
    return refine(result, blurred, used, model=CANDIDATE_REFINER["model"]), used


#: Ablation rows, each adding one change to the row before it:
#: name -> ((blurred, raw v0.1 estimate) -> (result, field used)).
CHAINS = {
    "v0.1": _chain("v0.1's `deblur()`: cepstral check at 8, unconfirmed lengths x0.8, TV weight "
                   "2x the non-blind default, node operator", regularization=BLIND_REGULARIZATION),
    "noise": _chain("+ TV weight from the measured noise level (`regularization='auto'`)"),
    "check4": _chain("+ cepstral check threshold 4", threshold=4.0),
    "sat": _chain("`check4` + clipped highlights left out of the data term (`saturation=0.98`;"
                  " tried, not kept)", threshold=4.0, saturation=0.98),
    "scale0.7": _chain("`check4` with unconfirmed lengths x0.7 (tried, not kept)",
                       threshold=4.0, scale=0.7),
    "exact": _chain("`check4` with the exact per-pixel data term (tried, not kept for blind)",
                    threshold=4.0, operator="exact"),
    "fixedtv": _chain_fixedtv,
    "linearlight": _chain_linear_light,
    "linearlight_candidate": _chain_linear_light_candidate,
    "deblur": _chain_deblur,
    "norefine": _chain_norefine,
    "nocamera": _chain_nocamera,
    "finecamera": _chain_fine_camera,
    "singlepatch": _chain_single_patch,
    "nowide": _chain_no_wide,
    "candidate": _chain_candidate,
    "candidate_x4": _chain_candidate_x4,
    "oneview": _chain_one_view,
    "weights": _chain_weights,
    "pcg": _chain_pcg,
    "pcg_norefine": _chain_pcg_norefine,
    "scale0.7r": _chain_scaled(0.7),
    "scale0.9r": _chain_scaled(0.9),
    "scale1.0r": _chain_scaled(1.0),
}


def luminance_of(image: np.ndarray) -> np.ndarray:
    return np.clip(luminance(image[..., None] if image.ndim == 2 else image), 0, 1)


def length_ratio_error(estimate: MotionField, truth: MotionField) -> float:
    """Median ``|l_est / l - 1|`` over pixels whose true streak is at least 3 px."""
    true = np.minimum(truth.length, MAX_LENGTH)
    mask = true >= 3.0
    if not mask.any():
        return float("nan")
    return float(np.median(np.abs(estimate.length[mask] / true[mask] - 1.0)))


def centre_crop(image: np.ndarray, side: int = SIDE) -> np.ndarray:
    h, w = image.shape[:2]
    r, c = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.ascontiguousarray(image[r : r + side, c : c + side])


def held_out_rows(images, run_case, seed: int) -> list[dict]:
    """``run_case(sharp, kind, max_length, variant, seed)`` on every case of each held-out
    image (its centre crop; the sets x kinds x variants, seeds counting up from ``seed + 1``),
    each row tagged with its image, set and half (``"choose"``: the first half of the images,
    ``"check"``: the rest). Prints the progress image by image."""
    rows, half, start = [], len(images) // 2, time.time()
    for i, image in enumerate(images):
        sharp = centre_crop(image)
        for set_name, max_length in SETS.items():
            for kind in KINDS:
                for variant in VARIANTS:
                    seed += 1
                    row = run_case(sharp, kind, max_length, variant, seed)
                    rows.append({**row, "image": i, "set": set_name,
                                 "half": "choose" if i < half else "check"})
        print(f"image {i + 1}/{len(images)} ({time.time() - start:.0f} s)", flush=True)
    return rows


def held_out_arguments(description: str, images: int, argv=None, extend=None, load=True):
    """The held-out scripts' options (``--data``, ``--images``, ``--threads`` and whatever
    ``extend(parser)`` adds), torch threads set; returns them and every held-out Train400
    image (the training script's split; with ``load=False``, None: see
    :func:`held_out_images`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--images", type=int, default=images,
                        help="held-out Train400 images (two halves)")
    parser.add_argument("--threads", type=int, default=2)
    if extend is not None:
        extend(parser)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    return args, held_out_images(args) if load else None


def held_out_images(args) -> list:
    """Every held-out Train400 image of ``args.data`` (the training script's split)."""
    return folder_split(args.data / "train400")[1]


def gain_table(title: str, rows, names, variants, digits: int = 2) -> list[str]:
    """A Markdown table of the held-out scripts: per setting in ``names`` (each a key of the
    rows: the PSNR gain over the blurry input), its mean gain and how many cases end below the
    blurry input, per variant."""
    lines = [f"\n### {title}\n", "| setting | " + " | ".join(
        f"{v} gain | {v} below blurry" for v in variants) + " |",
        "|---|" + "---|---|" * len(variants)]
    for name in names:
        cells = []
        for variant in variants:
            sel = [r[name] for r in rows if r["variant"] == variant]
            cells += [f"{np.mean(sel):+.{digits}f} dB", f"{sum(g < 0 for g in sel)} / {len(sel)}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def by_halves(table, rows, count: int) -> list[str]:
    """``table(title, rows)`` (a list of lines) for the rows of :func:`held_out_rows`' two
    halves of ``count`` images, one after the other."""
    half = count // 2
    return [*table(f"choose: images 1-{half}", [r for r in rows if r["half"] == "choose"]), "",
            *table(f"check: images {half + 1}-{count}",
                   [r for r in rows if r["half"] == "check"])]


def load(folder: Path, count: int, first: int = 0) -> list[tuple[str, np.ndarray]]:
    files = sorted(Path(folder).glob("*.png"))[first : first + count]
    if not files:
        raise SystemExit(f"no PNG images in {folder}; pass --data")
    return [(f.stem, centre_crop(io.imread(f).astype(np.float32) / 255.0)) for f in files]


def datasets(args) -> dict[str, list[tuple[str, np.ndarray]]]:
    if args.tuning:
        held_out = folder_split(args.data / "train400")[1][args.first : args.first + args.images]
        return {"train400-held-out": [(f"heldout{i}", centre_crop(im))
                                      for i, im in enumerate(held_out, start=args.first)]}
    chosen = args.datasets.split(",")
    return {name: load(args.data / name, args.images, args.first) for name in ("set12", "cbsd68")
            if name in chosen}


def run_case(sharp, kind, max_length, variant, seed, chains):
    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
    truth, blurred, field = obs.sharp, obs.blurred, obs.field
    row = {"kind": kind, "variant": variant, "shape": list(truth.shape),
           "settings": obs.settings, "true_mean_length": float(field.length.mean()),
           "mse_oracle_uniform": best_uniform(field)[1],
           "mse_zero": streak_error(MotionField.uniform(field.shape, 0.0, 0.0), field),
           "psnr_blurry": psnr(blurred, truth), "ssim_blurry": ssim(blurred, truth)}
    raw = baseline_estimate(blurred)
    shipped = estimate_with_confidence(blurred, device="cpu").field
    for name, est in (("estimate_v01", raw), ("estimate", shipped)):
        row[f"mse_{name}"] = streak_error(est, field)
        row[f"length_error_{name}"] = length_ratio_error(est, field)
    nonblind = deconvolve(blurred, field, device="cpu", operator="nodes")
    row["psnr_nonblind_nodes"] = psnr(nonblind, truth)
    nonblind = deconvolve(blurred, field, device="cpu")
    row["psnr_nonblind"], row["ssim_nonblind"] = psnr(nonblind, truth), ssim(nonblind, truth)
    row["psnr_nonblind_refined"] = psnr(refine(nonblind, blurred, field), truth)
    nonblind = deconvolve(blurred, field, device="cpu", regularization="auto", saturation=0.98)
    row["psnr_nonblind_auto"] = psnr(nonblind, truth)
    for name in chains:
        start = time.perf_counter()
        result, used = CHAINS[name](blurred, raw)
        row[f"seconds_{name}"] = time.perf_counter() - start
        row[f"psnr_{name}"], row[f"ssim_{name}"] = psnr(result, truth), ssim(result, truth)
        row[f"mse_{name}"] = streak_error(used, field)
        row[f"length_error_{name}"] = length_ratio_error(used, field)
    return row


def summarize(rows, chains):
    out = {"cases": len(rows)}
    keys = ["mse_estimate", "mse_estimate_v01", "mse_oracle_uniform", "mse_zero",
            "psnr_blurry", "ssim_blurry", "psnr_nonblind_nodes", "psnr_nonblind",
            "ssim_nonblind", "psnr_nonblind_auto", "psnr_nonblind_refined"]
    keys += [f"{m}_{c}" for c in chains for m in ("psnr", "ssim", "mse", "seconds")]
    for key in keys:
        out[key] = float(np.mean([r[key] for r in rows]))
    for key in (["length_error_estimate", "length_error_estimate_v01"]
                + [f"length_error_{c}" for c in chains]):
        out[key] = float(np.nanmedian([r[key] for r in rows]))
    for c in chains:
        out[f"below_blurry_{c}"] = int(sum(r[f"psnr_{c}"] < r["psnr_blurry"] for r in rows))
    return out


def table(title, groups, chains):
    lines = [f"\n### {title}\n",
             "| set | cases | field MSE: Motion-Net shipped / v0.1 / uniform oracle / zero "
             "| length err. shipped / v0.1 | PSNR blurry | PSNR non-blind: nodes / exact / "
             "exact+auto+sat / exact+refiner | " + " | ".join(f"PSNR {c}" for c in chains)
             + " | SSIM blurry / non-blind / deblur | below blurry: "
             + " / ".join(chains) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(chains) + "---|---|"]
    for label, s in groups.items():
        ssim_blind = f"{s['ssim_deblur']:.3f}" if "deblur" in chains else "-"
        lines.append(
            f"| {label} | {s['cases']} | {s['mse_estimate']:.1f} / {s['mse_estimate_v01']:.1f}"
            f" / {s['mse_oracle_uniform']:.1f} / {s['mse_zero']:.1f} | "
            f"{s['length_error_estimate']:.2f} / {s['length_error_estimate_v01']:.2f} | "
            f"{s['psnr_blurry']:.2f} | {s['psnr_nonblind_nodes']:.2f} / {s['psnr_nonblind']:.2f}"
            f" / {s['psnr_nonblind_auto']:.2f} / {s['psnr_nonblind_refined']:.2f} | "
            + " | ".join(f"{s[f'psnr_{c}']:.2f}" for c in chains)
            + f" | {s['ssim_blurry']:.3f} / {s['ssim_nonblind']:.3f} / {ssim_blind} | "
            + " / ".join(str(s[f"below_blurry_{c}"]) for c in chains) + " |")
    return lines


def kind_table(rows, variants):
    """Non-blind IRC-Net by field kind: node operator vs exact data term, gain over blurry."""
    lines = ["\n### Non-blind IRC-Net by field kind (true field): gain over the blurry input\n",
             "| variant | kind | cases | node operator | exact data term | below blurry: nodes / "
             "exact |", "|---|---|---|---|---|---|"]
    for variant in variants:
        for kind in KINDS:
            sel = [r for r in rows if r["variant"] == variant and r["kind"] == kind]
            if not sel:
                continue
            gain = {op: float(np.mean([r[key] - r["psnr_blurry"] for r in sel]))
                    for op, key in (("nodes", "psnr_nonblind_nodes"), ("exact", "psnr_nonblind"))}
            below = {op: sum(r[key] < r["psnr_blurry"] for r in sel)
                     for op, key in (("nodes", "psnr_nonblind_nodes"), ("exact", "psnr_nonblind"))}
            lines.append(f"| {variant} | {kind} | {len(sel)} | {gain['nodes']:+.2f} dB | "
                         f"{gain['exact']:+.2f} dB | {below['nodes']} / {below['exact']} |")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--images", type=int, default=6, help="images per data set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tuning", action="store_true",
                        help="held-out Train400 split instead of the test sets")
    parser.add_argument("--chains", default=",".join(CHAINS),
                        help=f"comma-separated ablation rows, of {', '.join(CHAINS)}")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--datasets", default="set12,cbsd68", help="test sets to run")
    parser.add_argument("--first", type=int, default=0,
                        help="start at this image of each test set, or of the held-out split "
                             "with --tuning (cases keep their seeds, so "
                             "runs over parts of a set can be merged)")
    parser.add_argument("--merge", nargs="*", type=Path, default=[],
                        help="JSON results of earlier runs (e.g. one per data set, run in "
                             "parallel) to tabulate together instead of running")
    parser.add_argument("--name", default=None, help="results file name")
    parser.add_argument("--weights", type=Path, default=None,
                        help="Motion-Net weights for `deblur()` and the shipped estimate "
                             "instead of the packaged ones (e.g. weights/"
                             "motionnet_finetuned_exact.pt -> blind_finetuned_weights)")
    parser.add_argument("--refiner", type=Path, default=None,
                        help="refiner weights for the `candidate` chain (to compare with the "
                             "shipped ones in the same run)")
    parser.add_argument("--candidate-weights", type=Path, default=None,
                        help="Motion-Net weights for the `weights` chain (to compare with the "
                             "shipped ones, or those of --weights, in the same run)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.candidate_weights is not None:
        CANDIDATE_WEIGHTS.update(candidate=args.candidate_weights, shipped=args.weights)
    if args.refiner is not None:
        CANDIDATE_REFINER["model"] = load_refiner(args.refiner)
    if args.weights is not None:
        use_weights(args.weights)
    chains = [c for c in args.chains.split(",") if c]
    unknown = [c for c in chains if c not in CHAINS]
    if unknown:
        raise SystemExit(f"unknown chains {unknown}; known: {list(CHAINS)}")
    variants = args.variants.split(",")
    rows = []
    for path in args.merge:
        earlier = json.loads(path.read_text())
        chains, rows = earlier["chains"], rows + earlier["cases"]
    sets = {} if args.merge else datasets(args)
    for dataset, images in sets.items():
        d = DATASET_SEEDS[dataset]
        for s, (set_name, max_length) in enumerate(SETS.items()):
            for i, (image_name, sharp) in enumerate(images, start=args.first):
                for k, kind in enumerate(KINDS):
                    for v, variant in enumerate(variants):
                        seed = 100000 * d + 10000 * s + 100 * i + 10 * k + v
                        row = run_case(sharp, kind, max_length, variant, seed, chains)
                        row.update(dataset=dataset, set=set_name, image=image_name)
                        rows.append(row)
                        print(f"{dataset} {set_name} {image_name} {kind} {variant}: blurry "
                              f"{row['psnr_blurry']:.2f} non-blind {row['psnr_nonblind']:.2f} "
                              + " ".join(f"{c} {row[f'psnr_{c}']:.2f}" for c in chains)
                              + f" | mse {row['mse_estimate']:.1f} oracle "
                              f"{row['mse_oracle_uniform']:.1f} len.err "
                              f"{row['length_error_estimate']:.2f}", flush=True)
    results, lines = {}, []
    for variant in variants:
        groups = {}
        for dataset in dict.fromkeys(r["dataset"] for r in rows):
            for set_name in SETS:
                sel = [r for r in rows if r["variant"] == variant and r["dataset"] == dataset
                       and r["set"] == set_name]
                groups[f"{dataset} {set_name}"] = summarize(sel, chains)
                cam = [r for r in sel if r["kind"] == "camera"]
                groups[f"{dataset} {set_name}, camera shake only"] = summarize(cam, chains)
        groups["all"] = summarize([r for r in rows if r["variant"] == variant], chains)
        results[variant] = groups
        lines += table(f"{variant} variant", groups, chains)
    lines += kind_table(rows, variants)
    header = [
        "# Blind deblurring on independently made blur (exact per-pixel operator)\n",
        ("Held-out Train400 split (tuning only)" if args.tuning else
         "Test images: " + "; ".join(
             f"{name}: " + ", ".join(dict.fromkeys(r["image"] for r in rows
                                                 if r["dataset"] == name))
             for name in dict.fromkeys(r["dataset"] for r in rows)))
        + f", central crops <= {SIDE} px, 3 field kinds (strong camera shake, objects, uniform)"
        " x 2 sets (moderate <= 21 px, severe <= 35 px) x variants (linear: sigma 0.01; "
        "realistic: linear light, curved paths, clipped highlights, Poisson-Gaussian noise, "
        "sRGB, JPEG 90), 20-px crop after blurring. Field MSE in px^2 (sign-free streak "
        "vectors); length err. = median |l_est/l - 1| over pixels with l >= 3 px (raw "
        "estimate of `estimate_motion()`); PSNR in dB (mean); below blurry = cases whose "
        "PSNR ends below the blurry input's.\n",
        "Chains: " + "; ".join(f"`{c}`: {CHAINS[c].__doc__.strip()}" for c in chains) + "\n",
        f"Machine: {machine(args.threads)}.",
    ]
    name = args.name or ("blind_tuning_v2" if args.tuning else "blind")
    save(name, {"machine": machine(args.threads), "chains": chains,
                "chain_docs": {c: CHAINS[c].__doc__.strip() for c in chains},
                "results": results, "cases": rows}, "\n".join(header + lines))


if __name__ == "__main__":
    main()
