"""How ``deblur()`` treats its estimate: length rule, TV weight and camera gate, held out.

On the held-out Train400 split of ``blind.py --tuning`` (the same cases and seeds: both
variants, three field kinds, moderate and severe), each case is estimated once (Motion-Net, the
cepstral check; the camera model's pooled cepstra kept), then deconvolved as ``deblur()`` does
(IRC-Net 5 x 2, the TV weight from the confidence, the learned refiner chosen by
``deconvolve``) under each setting:

* ``scale`` S: unconfirmed lengths times S (``length_scale``, shipped 0.7);
* ``long A-B`` S: the same, but the factor rises from S to 1 between unconfirmed lengths of
  A and B px (Motion-Net's long streaks are already too short);
* ``tv`` M: the TV weight's two bases times M;
* the camera model (:data:`CAMERAS`): its acceptance margin (shipped 4), its pooled
  cepstra at the image's resolution and at half of it, summed, and a wider scale search.

``--grid treatment`` varies the first three; ``--grid camera``, ``--grid long`` and ``--grid
patches`` (smaller patches' pooled cepstra added) and ``--grid wide`` (nearly translational
motions also searched up to 2.4 x with the coarse cepstra; ``--grid translations`` the same on
long uniform motion alone, 22-35 px, the case it is for, on seeds of its own) the camera model;
``--grid passes`` Motion-Net's test-time passes (2, 4, 8); ``--grid oracle`` measures what is
left: the true lengths, angles or field in place of the estimate's, and the best factor on the
unconfirmed lengths per case (0.8-1.25 x the shipped 0.7), chosen with the sharp image.

Reported per variant and half: mean PSNR gain over the blurry input and how many cases end
below it.

    python benchmarks/blind_knobs.py [--grid treatment|camera|long|patches|wide|translations|
                                     passes|oracle]
                                     [--data ../shared/data]
"""

from __future__ import annotations

import time

import numpy as np
from _common import psnr, save
from blind import (
    KINDS,
    SETS,
    VARIANTS,
    by_halves,
    centre_crop,
    gain_table,
    held_out_arguments,
    luminance_of,
)

from napari_motion_deblur.deconvolution import deconvolve
from napari_motion_deblur.estimation.api import MotionEstimate
from napari_motion_deblur.estimation.camera_model import SINGLE_PATCH, camera_check
from napari_motion_deblur.estimation.motionnet import get_motionnet, predict
from napari_motion_deblur.estimation.spectral import cepstral_check, patch_cepstra
from napari_motion_deblur.motion import MAX_LENGTH, MotionField
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.physics.synthesis import uniform_random_field
from napari_motion_deblur.settings import DEFAULT_PASSES, DeblurSettings

SHIPPED = "2 res from 22 px, margin 3 (shipped before the small patches)"
PATCHES_SHIPPED = "+ 64- and 96-px patches, margin 4 (shipped before the wide search)"
WIDE_SHIPPED = "+ wide search of nearly translational motions (shipped)"
BEFORE = "shipped (before the small patches)"  # the chain the oracle and passes grids vary
#: The camera model's options (see ``camera_check``): acceptance margin, the resolutions and
#: patch sizes whose pooled cepstra are summed, the scales searched.
WIDE = np.round(np.arange(0.6, 2.2001, 0.02), 2)
CAMERAS = {
    # the camera model before the half resolution was added
    "1 res": {**SINGLE_PATCH, "downscales": (1,)},
    "margin 2": {**SINGLE_PATCH, "downscales": (1,), "min_margin": 2.0},
    "margin 2.5": {**SINGLE_PATCH, "downscales": (1,), "min_margin": 2.5},
    "margin 3.5": {**SINGLE_PATCH, "downscales": (1,), "min_margin": 3.5},
    "margin 4": {**SINGLE_PATCH, "downscales": (1,), "min_margin": 4.0},
    "2 res, margin 3": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 0.0},
    "2 res, margin 4": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 0.0,
                        "min_margin": 4.0},
    "2 res, margin 5": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 0.0,
                        "min_margin": 5.0},
    "2 res, margin 6": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 0.0,
                        "min_margin": 6.0},
    "2 res wide, margin 4": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 0.0,
                             "min_margin": 4.0, "scales": WIDE},
    "2 res wide, margin 5": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 0.0,
                             "min_margin": 5.0, "scales": WIDE},
    "half res, margin 3": {**SINGLE_PATCH, "downscales": (2,), "multiscale_from": 0.0},
    "2 res from 18 px, margin 3": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 18.0},
    "2 res from 18 px, margin 5": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 18.0,
                                   "min_margin": 5.0},
    "2 res wide from 18 px, margin 3": {**SINGLE_PATCH, "downscales": (1, 2),
                                        "multiscale_from": 18.0, "scales": WIDE},
    SHIPPED: {**SINGLE_PATCH},  # downscales (1, 2) from 22 px, 128-px patches, margin 3
    "2 res from 22 px, margin 5": {**SINGLE_PATCH, "downscales": (1, 2), "multiscale_from": 22.0,
                                   "min_margin": 5.0},
    "+ 64-px patches": {"patches": (128, 64), "min_margin": 3.0},
    "+ 64-px patches, margin 3.5": {"patches": (128, 64), "min_margin": 3.5},
    PATCHES_SHIPPED: {"patches": (128, 64, 96), "min_margin": 4.0},
    "+ 64- and 96-px patches, margin 5": {"patches": (128, 64, 96), "min_margin": 5.0},
}
# every camera above without the wide search of nearly translational motions (added later)
CAMERAS = {name: {"wide_scales": None, **options} for name, options in CAMERAS.items()}
CAMERAS[WIDE_SHIPPED] = {}  # camera_check's defaults
CAMERAS["+ wide search, also over a clearly accepted usual motion"] = {"clear_margin": np.inf}
CAMERAS["+ wide search, margin 3 for its motion"] = {"wide_margin": 3.0}
CAMERAS["+ wide search, margin 5 for its motion"] = {"wide_margin": 5.0}
CAMERAS["+ wide search, residual 0.15 for its motion"] = {"wide_residual": 0.15}
#: (name, length rule, scale, TV factor, camera[, Motion-Net passes]); rule "long A-B" (see
#: the notes)
GRIDS = {
    "treatment": (
        ("shipped before (1 res)", "scale", 0.7, 1.0, "1 res"),
        ("scale 0.6", "scale", 0.6, 1.0, "1 res"),
        ("scale 0.8", "scale", 0.8, 1.0, "1 res"),
        ("scale 0.9", "scale", 0.9, 1.0, "1 res"),
        ("long 15-25, 0.7", "long 15-25", 0.7, 1.0, "1 res"),
        ("long 18-30, 0.7", "long 18-30", 0.7, 1.0, "1 res"),
        ("long 22-30, 0.7", "long 22-30", 0.7, 1.0, "1 res"),
        ("long 18-30, 0.6", "long 18-30", 0.6, 1.0, "1 res"),
        ("tv x0.5", "scale", 0.7, 0.5, "1 res"),
        ("tv x0.7", "scale", 0.7, 0.7, "1 res"),
        ("tv x1.4", "scale", 0.7, 1.4, "1 res"),
        ("margin 2", "scale", 0.7, 1.0, "margin 2"),
        ("margin 2.5", "scale", 0.7, 1.0, "margin 2.5"),
        ("margin 3.5", "scale", 0.7, 1.0, "margin 3.5"),
        ("margin 4", "scale", 0.7, 1.0, "margin 4"),
    ),
    "camera": tuple((name, "scale", 0.7, 1.0, name) for name in CAMERAS
                    if name not in ("margin 2", "margin 2.5") and " from " not in name
                    and not name.startswith("+ ")),
    "long": tuple((name, "scale", 0.7, 1.0, name) for name in CAMERAS
                  if name == "1 res" or " from " in name),
    "patches": tuple((name, "scale", 0.7, 1.0, name) for name in CAMERAS
                     if name == SHIPPED or name.startswith("+ 64")),
    "wide": tuple((name, "scale", 0.7, 1.0, name) for name in CAMERAS
                  if name in (PATCHES_SHIPPED, WIDE_SHIPPED) or name.startswith("+ wide search,")),
    # (and "translations", the same settings on long uniform motion: added below)
    # Motion-Net's test-time passes (the settings' optional sixth entry; default 4)
    "passes": ((BEFORE, "scale", 0.7, 1.0, SHIPPED),
               *((f"{p} passes", "scale", 0.7, 1.0, SHIPPED, p)
                 for p in (2, 8))),
    # What is left: the chain with the true lengths, angles or field, and with every
    # unconfirmed length times a factor F (the table adds the best factor per case)
    "oracle": ((BEFORE, "scale", 0.7, 1.0, SHIPPED),
               *((f"factor {f:g}", "scale", round(0.7 * f, 4), 1.0,
                  SHIPPED) for f in (0.8, 0.9, 1.1, 1.25)),
               *((rule, rule, 0.7, 1.0, SHIPPED)
                 for rule in ("true lengths", "true angles", "true field"))),
}
GRIDS["translations"] = GRIDS["wide"]
SETTINGS = GRIDS["treatment"]


def length_factor(rule: str, scale: float, length: np.ndarray) -> np.ndarray:
    """The factor on unconfirmed lengths under ``rule`` (see the module notes)."""
    if rule == "scale":
        return np.full_like(length, scale)
    low, high = (float(x) for x in rule.split()[1].split("-"))
    rise = np.clip((length - low) / (high - low), 0.0, 1.0)
    return scale + (1.0 - scale) * rise


def used_field(estimate: MotionEstimate, rule: str, scale: float,
               truth: MotionField) -> MotionField:
    true_length = np.minimum(truth.length, MAX_LENGTH)
    if rule.startswith("true"):  # oracles: the true lengths, angles or both
        shipped = used_field(estimate, "scale", scale, truth)
        return MotionField(true_length if rule in ("true field", "true lengths")
                           else shipped.length,
                           truth.angle if rule in ("true field", "true angles")
                           else shipped.angle)
    factor = length_factor(rule, scale, estimate.field.length)
    factor = factor + (1.0 - factor) * estimate.confidence
    return MotionField(np.minimum(estimate.field.length * factor, MAX_LENGTH),
                       estimate.field.angle)


def long_translation(shape, rng, max_length: float = 35.0) -> MotionField:
    """Uniform motion of 22 px to ``max_length``: the case the camera model's wide search is
    for, rare in the usual grid (one in three uniform severe cases)."""
    return uniform_random_field(shape, rng, max_length=max_length, min_length=22.0)


def run_case(sharp, kind, max_length, variant, seed, net, settings=SETTINGS):
    field = {**KINDS, "long uniform": long_translation}[kind](
        sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
    blurred, truth = obs.blurred, obs.sharp
    lum = luminance_of(blurred)
    cepstra = patch_cepstra(lum)
    base_psnr = psnr(blurred, truth)
    row = {"kind": kind, "variant": variant, "psnr_blurry": base_psnr}
    checked, estimates = {}, {}
    for name, rule, scale, tv, camera, *more in settings:
        passes = more[0] if more else DEFAULT_PASSES
        if passes not in checked:
            raw = predict(net, lum, "cpu", passes=passes)
            checked[passes] = cepstral_check(lum, raw, cepstra=cepstra)
        if (passes, camera) not in estimates:
            estimates[passes, camera] = MotionEstimate(*camera_check(
                lum, *checked[passes], cepstra=cepstra, **CAMERAS[camera])[:2])
        estimate = estimates[passes, camera]
        blind = DeblurSettings()
        blind = blind.replace(confirmed_base=blind.confirmed_base * tv,
                              deconvolution=blind.deconvolution.replace(
                                  base=blind.deconvolution.base * tv, device="cpu"))
        config = blind.deconvolution_for(estimate.confidence)
        result = deconvolve(blurred, used_field(estimate, rule, scale, obs.field),
                            settings=config)
        row[name] = psnr(result, truth) - base_psnr
    return row


def with_best_factor(rows, settings):
    """``rows`` with the best of the shipped and ``factor`` settings per case (an oracle: it
    is chosen with the sharp image), when the grid has them."""
    factors = [name for name, *_ in settings if name.startswith("factor")]
    if not factors:
        return rows, settings
    best = [{**r, "best factor per case": max(r[n] for n in [settings[0][0], *factors])}
            for r in rows]
    return best, (*settings, ("best factor per case",))


def table(title, rows, settings=SETTINGS):
    rows, settings = with_best_factor(rows, settings)
    return gain_table(title, rows, [name for name, *_ in settings], VARIANTS)


def main(argv=None):
    def extend(parser):
        parser.add_argument("--first", type=int, default=0)
        parser.add_argument("--grid", choices=list(GRIDS), default="treatment")

    args, images = held_out_arguments(__doc__.splitlines()[0], 24, argv, extend=extend)
    settings = GRIDS[args.grid]
    images = images[args.first : args.first + args.images]
    net = get_motionnet("cpu")
    rows, start = [], time.time()
    # --grid translations: long uniform motion only, on seeds of its own
    translations = args.grid == "translations"
    sets = {"long": 35.0} if translations else SETS
    kinds = ("long uniform",) if translations else KINDS
    for s, (set_name, max_length) in enumerate(sets.items()):
        for i, image in enumerate(images, start=args.first):
            sharp = centre_crop(image)
            for k, kind in enumerate(kinds):
                for v, variant in enumerate(VARIANTS):
                    # blind.py --tuning's seeds; translations: seeds of their own
                    seed = (400000 if translations else 200000) + 10000 * s + 100 * i + 10 * k + v
                    row = run_case(sharp, kind, max_length, variant, seed, net, settings)
                    rows.append({**row, "set": set_name, "image": i,
                                 "half": "choose" if i < args.images // 2 else "check"})
            print(f"{set_name} image {i + 1}/{len(images)} ({time.time() - start:.0f} s): "
                  + " ".join(f"{n} {np.mean([r[n] for r in rows[-2 * len(kinds):]]):+.2f}"
                             for n, *_ in settings), flush=True)
    lines = ["# Blind deblurring's treatment of the estimate (held-out Train400 images)\n",
             __doc__.split("\n\n")[1].replace("\n", " ") + "\n",
             "Gain: mean PSNR over the blurry input (dB)."]
    lines += by_halves(lambda title, sel: table(title, sel, settings), rows, args.images)
    save(f"blind_knobs_{args.grid}",
         {"settings": [list(s) for s in settings],
          "cameras": {name: {k: (list(v) if isinstance(v, tuple) else
                                 [float(x) for x in v] if isinstance(v, np.ndarray)
                                 else str(v) if v == np.inf else v)
                             for k, v in CAMERAS[name].items()} for name in
                      dict.fromkeys(s[4] for s in settings)},
          "cases": rows},
         "\n".join(lines))


if __name__ == "__main__":
    main()
