"""How the refiner is applied: views averaged and strength of its correction, held out.

On the held-out Train400 split of ``blind_knobs.py`` (the same cases and seeds: both variants,
three field kinds, moderate and severe; and a third variant, *camera PNG*: each realistic case
saved losslessly instead of as JPEG, the same draws, as a camera's PNG or TIFF is: inputs
without JPEG that the default refiner serves but the linear variant does not resemble), each
case is deblurred once without the refiner
(``deblur(refine=False)``), then refined as ``deblur()`` refines (the JPEG refiner where the
input looks JPEG-compressed, else the default one) under each setting: the correction averaged
over 1, 2, 4 or 8 turned and mirrored views (``refine(views=...)``), and a share of it applied
(``strength``). The cost of one view of each refiner on a 512 x 512 gray image is timed too, as
``deblur()`` pays it. ``--refiner`` / ``--jpeg-refiner`` add other weights (``candidate``),
tried on the same cases next to the shipped ones.

Reported per variant and half: mean PSNR gain over the blurry input and how many cases end
below it.

    python benchmarks/refiner_views.py [--images 24] [--refiner W.pt] [--jpeg-refiner W.pt]
                                       [--name refiner_views] [--data ../shared/data]
"""

from __future__ import annotations

import time

import numpy as np
from _common import median_time, psnr, save
from blind import KINDS, SETS, by_halves, centre_crop, gain_table, held_out_arguments

from napari_motion_deblur import deblur
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.physics.compression import looks_jpeg_compressed
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.solvers.refiner import APPLICATION, VIEWS, load_refiner, refine

STRENGTHS = (0.5, 0.75, 1.0)
#: variant -> (blind.py's variant whose seeds it uses, degrade() keywords)
VARIANTS = {"linear": (0, {}), "realistic": (1, {"realistic": True}),
            "camera PNG": (1, {"realistic": True, "jpeg_quality": None})}
SETTINGS = tuple((v, s) for v in VIEWS for s in STRENGTHS)


def name_of(weights: str, views: int, strength: float) -> str:
    return f"{weights}: {views} view{'s' if views > 1 else ''}, strength {strength:g}"


def run_case(sharp, kind, max_length, variant, seed, weight_sets) -> dict:
    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed), max_length=max_length)
    obs = degrade(sharp, field, seed, **VARIANTS[variant][1])
    blurred, truth = obs.blurred, obs.sharp
    base = psnr(blurred, truth)
    unrefined, used = deblur(blurred, device="cpu", refine=False)
    compressed = looks_jpeg_compressed(blurred)
    row = {"kind": kind, "variant": variant, "jpeg": bool(compressed), "psnr_blurry": base,
           "unrefined": psnr(unrefined, truth) - base}
    for weights, refiners in weight_sets.items():
        for views, strength in SETTINGS:
            out = refine(unrefined, blurred, used, "cpu", refiners[compressed], views, strength)
            row[name_of(weights, views, strength)] = psnr(out, truth) - base
    return row


def view_seconds(model) -> float:
    """One view of ``model`` on a 512 x 512 gray image (median of 5)."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (512, 512)).astype(np.float32)
    field = MotionField.uniform(image.shape, 15.0, 30.0)
    return median_time(lambda: refine(image, image, field, "cpu", model, 1, 1.0), 5)


def table(title, rows, weight_sets) -> list[str]:
    names = ["unrefined", *(name_of(w, v, s) for w in weight_sets for v, s in SETTINGS)]
    return gain_table(title, rows, names, VARIANTS, digits=3)


def main(argv=None):
    def extend(parser):
        parser.add_argument("--refiner", default=None, help="default refiner weights to try")
        parser.add_argument("--jpeg-refiner", default=None, help="JPEG refiner weights to try")
        parser.add_argument("--name", default="refiner_views", help="result file name")

    args, images = held_out_arguments(__doc__.splitlines()[0], 24, argv, extend=extend)
    images = images[: args.images]
    shipped = {False: load_refiner(), True: load_refiner(compressed=True)}
    weight_sets = {"shipped": shipped}
    if args.refiner or args.jpeg_refiner:
        weight_sets["candidate"] = {
            False: load_refiner(args.refiner) if args.refiner else shipped[False],
            True: load_refiner(args.jpeg_refiner) if args.jpeg_refiner else shipped[True]}
    seconds = {jpeg: view_seconds(model) for jpeg, model in shipped.items()}
    rows, start = [], time.time()
    for s, (set_name, max_length) in enumerate(SETS.items()):
        for i, image in enumerate(images):
            sharp = centre_crop(image)
            for k, kind in enumerate(KINDS):
                for variant, (v, _) in VARIANTS.items():
                    seed = 200000 + 10000 * s + 100 * i + 10 * k + v  # blind_knobs.py's
                    row = run_case(sharp, kind, max_length, variant, seed, weight_sets)
                    rows.append({**row, "set": set_name, "image": i,
                                 "half": "choose" if i < args.images // 2 else "check"})
            print(f"{set_name} image {i + 1}/{len(images)} ({time.time() - start:.0f} s)",
                  flush=True)
    candidate = {False: args.refiner or "resources/refiner.pt",
                 True: args.jpeg_refiner or "resources/refiner_jpeg.pt"}
    application = {jpeg: APPLICATION[("refiner_jpeg.pt" if jpeg else "refiner.pt")]
                   for jpeg in (False, True)}
    lines = ["# How the refiner is applied: views and strength (held-out Train400 images)\n",
             __doc__.split("\n\n")[1].replace("\n", " ") + "\n",
             "Weights: `shipped`: `resources/refiner.pt` (inputs without JPEG: the linear and "
             "camera PNG variants) and `resources/refiner_jpeg.pt` (JPEG inputs: the realistic "
             "variant)" + (f"; `candidate`: `{candidate[False]}` and `{candidate[True]}`"
                           if "candidate" in weight_sets else "") + ". Inputs recognised as "
             + ", ".join(f"{sum(r['jpeg'] for r in rows if r['variant'] == v)} of "
                         f"{sum(r['variant'] == v for r in rows)} {v}" for v in VARIANTS)
             + ".\n",
             f"One view on 512 x 512 gray: {seconds[False]:.3f} s (default refiner), "
             f"{seconds[True]:.3f} s (JPEG refiner), shipped weights. Shipped (views, "
             f"strength): {application[False]} and {application[True]}.\n",
             "Gain: mean PSNR over the blurry input (dB)."]
    lines += by_halves(lambda title, sel: table(title, sel, weight_sets), rows, args.images)
    save(args.name, {"candidate": ({str(k): v for k, v in candidate.items()}
                                   if "candidate" in weight_sets else None),
                     "view_seconds_512": {"default": seconds[False], "jpeg": seconds[True]},
                     "application": {"default": application[False],
                                     "jpeg": application[True]},
                     "cases": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
