"""What is left on the deconvolution side of the blind chain (held-out Train400 only).

For each case of the blind benchmark's held-out split (``blind.py --tuning``: the three field
kinds, moderate and severe, linear and realistic), the shipped estimate is made once (Motion-Net,
4 passes, cepstral check, camera model) and then deconvolved as ``deblur()`` does and in each of
the variants below, so that every row changes one thing and is scored on the same cases:

* ``stages2/3/4``, ``iterations1/3``: IRC-Net's ADMM stages and iterations (default 5 x 2);
* ``scaleA/B``: the factor on unconfirmed lengths, 0.1 below and above the default
  (``BLIND_LENGTH_SCALE``; it was 0.8 for ``blind_ablations.md`` and ``_v0.2.md``);
* ``smooth16``: the field smoothed (Gaussian, 16 px; lengths and doubled angles apart);
* ``norefine``: without the learned refiner; ``confgate``: the refiner's change kept only
  where the cepstrum did not confirm the estimate (``c x + (1 - c) refined``);
* ``longer``: the estimate's check also searches around 1.6x and 2.4x the estimated length
  where the usual search (+-30 %) finds no peak (Motion-Net shortens long streaks).

The first half of the images and the second are reported apart (choose / check).

    python benchmarks/blind_ablations.py [--data ../shared/data] [--images 12]
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
from scipy import ndimage

from napari_motion_deblur.deconvolution import deconvolve, resolve_device
from napari_motion_deblur.estimation.api import MotionEstimate, estimate_with_confidence
from napari_motion_deblur.estimation.camera_model import camera_check
from napari_motion_deblur.estimation.motionnet import get_motionnet, predict
from napari_motion_deblur.estimation.spectral import (
    CHECK_DEGREES,
    CHECK_RELATIVE,
    CHECK_SMOOTHING,
    CHECK_THRESHOLD,
    SPECTRAL_PATCH,
    SPECTRAL_STRIDE,
    _check_patches,
    _to_pixels,
    cepstral_check,
    patch_cepstra,
)
from napari_motion_deblur.motion import MAX_LENGTH, MotionField, doubled_angle, undoubled_angle
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.settings import DeblurSettings
from napari_motion_deblur.solvers.refiner import refine

SETTINGS = DeblurSettings()
#: Length hypotheses of the ``longer`` check, relative to the estimate.
LONGER = (1.6, 2.4)
#: Deconvolution variants: changes of the settings ``deconvolution_for`` gives, or of the
#: length scale.
SETTING_ROWS = {"stages2": {"stages": 2}, "stages3": {"stages": 3}, "stages4": {"stages": 4},
                "iterations1": {"iterations": 1}, "iterations3": {"iterations": 3},
                **{f"scale{scale:g}": {"scale": scale} for scale in (
                    round(SETTINGS.length_scale - 0.1, 2), round(SETTINGS.length_scale + 0.1, 2))}}
ROWS = ("deblur", *SETTING_ROWS, "smooth16", "norefine", "confgate", "longer")


def longer_check(lum, field, cepstra):
    """The cepstral check, plus the ``LONGER`` hypotheses where it confirms nothing."""
    found = []
    for factor in (1.0, *LONGER):
        hypothesis = MotionField(np.clip(field.length * factor, 0.0, MAX_LENGTH), field.angle)
        rows, cols, prominence, log_ratio, turn = _check_patches(
            lum, hypothesis, SPECTRAL_PATCH, SPECTRAL_STRIDE, CHECK_SMOOTHING, CHECK_RELATIVE,
            CHECK_DEGREES, cepstra)
        found.append((prominence, log_ratio + np.log(factor), turn))
    prominence, log_ratio, turn = found[0]
    confirmed = prominence >= CHECK_THRESHOLD
    log_ratio, turn = np.where(confirmed, log_ratio, 0.0), np.where(confirmed, turn, 0.0)
    best = np.where(confirmed, np.inf, -np.inf)
    for other, ratio, angle in found[1:]:
        take = ~confirmed & (other >= CHECK_THRESHOLD) & (other > best)
        log_ratio, turn = np.where(take, ratio, log_ratio), np.where(take, angle, turn)
        best = np.where(take, other, best)
    confirmed = np.isfinite(best).astype(np.float64)
    log_ratio, turn, confidence = _to_pixels([log_ratio * confirmed, turn * confirmed, confirmed],
                                             rows, cols, SPECTRAL_PATCH, lum.shape)
    refined = MotionField(np.clip(field.length * np.exp(log_ratio), 0.0, MAX_LENGTH),
                          field.angle + turn)
    return refined, np.clip(confidence, 0.0, 1.0).astype(np.float32)


def estimates(y):
    """The shipped estimate (as ``estimate_with_confidence``) and the ``longer`` one, sharing
    Motion-Net's passes and the cepstra."""
    lum = luminance_of(y)
    device = resolve_device("cpu")
    raw = predict(get_motionnet(device), lum, device, passes=SETTINGS.estimation.passes)
    cepstra = patch_cepstra(lum)
    out = {}
    for name, check in (("deblur", cepstral_check), ("longer", longer_check)):
        field, confidence = check(lum, raw, cepstra=cepstra)
        field, confidence, fit = camera_check(lum, field, confidence, cepstra=cepstra)
        out[name] = MotionEstimate(field, confidence, fit)
    return out


def smoothed(field: MotionField, sigma: float) -> MotionField:
    length = ndimage.gaussian_filter(field.length.astype(np.float64), sigma, mode="nearest")
    cos2, sin2 = (ndimage.gaussian_filter(v, sigma, mode="nearest")
                  for v in doubled_angle(field.angle))
    return MotionField(length.astype(np.float32), undoubled_angle(cos2, sin2).astype(np.float32))


def restorations(y, estimate: MotionEstimate, longer: MotionEstimate) -> dict:
    """Every row's result for one blurry image."""
    used = estimate.for_deblurring(SETTINGS.length_scale)
    config = SETTINGS.deconvolution_for(estimate.confidence).replace(device="cpu")
    plain = deconvolve(y, used, settings=config.replace(refine=False))
    refined = refine(plain, y, used)
    c = estimate.confidence[..., None] if plain.ndim == 3 else estimate.confidence
    out = {"deblur": refined, "norefine": plain, "confgate": c * plain + (1 - c) * refined,
           "smooth16": deconvolve(y, smoothed(used, 16.0), settings=config)}
    for name, change in SETTING_ROWS.items():
        change = dict(change)
        field = estimate.for_deblurring(change.pop("scale", SETTINGS.length_scale))
        out[name] = deconvolve(y, field, settings=config.replace(**change))
    out["longer"] = deconvolve(y, longer.for_deblurring(SETTINGS.length_scale),
                               settings=SETTINGS.deconvolution_for(longer.confidence)
                               .replace(device="cpu"))
    return out


def run_case(sharp, kind, max_length, variant, seed):
    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
    y = obs.blurred
    made = estimates(y)
    row = {"kind": kind, "variant": variant, "psnr_blurry": psnr(y, obs.sharp),
           "confidence": float(made["deblur"].confidence.mean())}
    for name, x in restorations(y, made["deblur"], made["longer"]).items():
        row[f"psnr_{name}"] = psnr(x, obs.sharp)
    return row


def table(title, rows) -> list[str]:
    others = ROWS[1:]
    lines = [f"### {title}", "",
             "| variant | kind | cases | `deblur()` gain | " + " | ".join(others)
             + " | below blurry: `deblur()` / " + " / ".join(others) + " |",
             "|---|---|---|---|" + "---|" * (len(others) + 1)]
    for variant in VARIANTS:
        for kind in (None, *KINDS):
            group = [r for r in rows if r["variant"] == variant and kind in (None, r["kind"])]
            if not group:
                continue
            blurry = np.mean([r["psnr_blurry"] for r in group])
            base = np.mean([r["psnr_deblur"] for r in group])
            changes = [np.mean([r[f"psnr_{n}"] for r in group]) - base for n in others]
            below = [sum(r[f"psnr_{n}"] < r["psnr_blurry"] for r in group) for n in ROWS]
            lines.append(f"| {variant} | {kind or 'all'} | {len(group)} | {base - blurry:+.3f} | "
                         + " | ".join(f"{c:+.3f}" for c in changes) + " | "
                         + " / ".join(map(str, below)) + " |")
    return lines


def check_replay(image) -> None:
    """The replayed shipped estimate must be ``deblur()``'s own (one case, before the run)."""
    y = degrade(image, KINDS["camera"](image.shape[:2], np.random.default_rng(1),
                                       max_length=21.0), 1).blurred
    shipped = estimate_with_confidence(y, settings=SETTINGS.estimation.replace(device="cpu"))
    replay = estimates(y)["deblur"]
    if not (np.array_equal(shipped.field.length, replay.field.length)
            and np.array_equal(shipped.confidence, replay.confidence)):
        raise SystemExit("the replayed estimate differs from estimate_with_confidence()")


def main(argv=None):
    args, every_held_out = held_out_arguments(
        __doc__.splitlines()[0], 12, argv,
        lambda parser: parser.add_argument("--name", default="blind_ablations"))
    images = every_held_out[: args.images]
    check_replay(centre_crop(images[0]))
    rows = held_out_rows(images, run_case, seed=9000)
    markdown = "\n".join([
        "# Blind chain ablations on the deconvolution side (held-out Train400 only)", "",
        f"{len(images)} held-out Train400 images (the training script's split), the blind "
        "benchmark's cases (3 field kinds x moderate / severe x linear / realistic). Gain = PSNR "
        "of `deblur()` minus the blurry input's (dB, mean); the other columns are each row's "
        "change from `deblur()` on the same cases. Rows: " + ", ".join(ROWS[1:]) + " (see the "
        "script's docstring).", "", f"Machine: {machine(args.threads)}.", "",
        *by_halves(table, rows, len(images))])
    save(args.name, {"rows": rows, "images": len(images), "machine": machine(args.threads)},
         markdown)
    print(markdown)


if __name__ == "__main__":
    main()
