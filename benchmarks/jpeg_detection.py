"""JPEG detection (``physics/compression.py``) on the blind benchmark's own inputs.

Every case of ``benchmarks/blind.py`` (same images, fields and seeds) is made again and its
blurred input scored with :func:`jpeg_evidence`: the linear variant was never compressed, the
realistic one went through JPEG 90 before the 20-px crop. Reported per data set and variant:
the range of the evidence and how many inputs count as compressed at ``JPEG_THRESHOLD``; the
threshold is chosen on the held-out split (``--tuning``) only. Also the two real photographs.

    python benchmarks/jpeg_detection.py [--data ../shared/data] [--tuning] [--images N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import DATA, save
from blind import DATASET_SEEDS, KINDS, SETS, VARIANTS, centre_crop, load
from skimage import io

from napari_motion_deblur.physics.compression import JPEG_THRESHOLD, jpeg_evidence
from napari_motion_deblur.physics.degradation import degrade
from napari_motion_deblur.training.motionnet import folder_split


def evidence(images, dataset: str) -> dict[str, list[float]]:
    """The evidence of every case's blurred input, per variant (blind.py's seeds)."""
    scores = {variant: [] for variant in VARIANTS}
    d = DATASET_SEEDS[dataset]
    for s, max_length in enumerate(SETS.values()):
        for i, sharp in enumerate(images):
            for k, kind in enumerate(KINDS):
                for v, variant in enumerate(VARIANTS):
                    seed = 100000 * d + 10000 * s + 100 * i + 10 * k + v
                    field = KINDS[kind](sharp.shape[:2], np.random.default_rng(seed),
                                        max_length=max_length)
                    obs = degrade(sharp, field, seed, realistic=variant == "realistic")
                    scores[variant].append(jpeg_evidence(obs.blurred))
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--tuning", action="store_true", help="the held-out Train400 split")
    parser.add_argument("--images", type=int, default=None, help="images per data set")
    args = parser.parse_args(argv)
    if args.tuning:
        held_out = folder_split(args.data / "train400")[1][: args.images or 24]
        sets = {"train400-held-out": [centre_crop(im) for im in held_out]}
    else:
        sets = {name: [im for _, im in load(args.data / name, args.images or count)]
                for name, count in (("set12", 12), ("cbsd68", 6))}
    rows, lines = {}, ["| data | variant | cases | evidence min / median / max | "
                       f"counted as JPEG (> {JPEG_THRESHOLD}) |", "|---|---|---|---|---|"]
    for dataset, images in sets.items():
        for variant, scores in evidence(images, dataset).items():
            a = np.array(scores)
            rows[f"{dataset} {variant}"] = scores
            lines.append(f"| {dataset} | {variant} | {len(a)} | {a.min():.2f} / "
                         f"{np.median(a):.2f} / {a.max():.2f} | {(a > JPEG_THRESHOLD).sum()} |")
    real = {}
    for path in sorted((args.data / "real").glob("*.png")):
        real[path.stem] = jpeg_evidence(io.imread(path)[..., :3].astype(np.float32) / 255.0)
        lines.append(f"| real | {path.stem} | 1 | {real[path.stem]:.2f} | "
                     f"{int(real[path.stem] > JPEG_THRESHOLD)} |")
    name = "jpeg_detection_tuning" if args.tuning else "jpeg_detection"
    header = ["# JPEG detection on the blind benchmark's inputs\n",
              "Linear variant: never compressed; realistic: JPEG 90 before the 20-px crop "
              f"(`benchmarks/blind.py`'s cases and seeds). Threshold {JPEG_THRESHOLD}.\n"]
    save(name, {"threshold": JPEG_THRESHOLD, "evidence": rows, "real": real},
         "\n".join(header + lines))


if __name__ == "__main__":
    main()
