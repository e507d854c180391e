"""Motion-Net's length bias, per weight file: how long streaks come out (held-out images only).

Two measurements, the plain network (one pass, no check, no camera model), each weight file
side by side on the same inputs:

* **uniform sweep**: 12 held-out Train400 crops (112 px, the training script's split and crop
  rule) blurred by a uniform motion of each length at a random angle (node operator, noise
  sigma 0.005); the median estimated length over each crop's interior (20 px in), then the
  median and quartiles over the crops;
* **validation crops**: the training script's 32 mixed validation crops (held-out images,
  its validation seed): the median ratio estimated / true length over pixels with l >= 3 px,
  for all of them, l < 10 px and l > 20 px, and the median |ratio - 1|;
* **training data**: the share of pixels streaking longer than 10, 20, 26 and 30 px in 150
  mixed training crops, as drawn today and with ``--long-share 0.6``.

Weight files are ``NAME=PATH`` pairs; ``NAME=PATH@Q`` reads a length classifier at quantile Q.

    python benchmarks/length_bias.py v0.2=src/napari_motion_deblur/resources/motionnet.pt \
        bins=benchmarks/weights/motionnet_bins.pt [--data ../shared/data]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import DATA, machine, save

from napari_motion_deblur import MotionField, blur
from napari_motion_deblur.estimation.motionnet import OUTPUT_SCALE, load_weights
from napari_motion_deblur.training.motionnet import VALIDATION_SEED, make_batch, make_sample
from napari_motion_deblur.training.sources import Sources

LENGTHS = (8, 14, 20, 26, 32)


def load(spec: str):
    name, _, path = spec.partition("=")
    path, _, quantile = path.partition("@")
    model = load_weights(path)
    if quantile:
        model.set_length_quantile(float(quantile))
    return name, path + (f" (quantile {quantile})" if quantile else ""), model


@torch.no_grad()
def lengths(model, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([model(x[i : i + 8]) for i in range(0, len(x), 8)])[:, 2] * OUTPUT_SCALE


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", nargs="+", help="NAME=PATH[@QUANTILE]")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    models = [load(spec) for spec in args.weights]
    sources = Sources(f"{args.data}/train400", photos=False, synthetic_pool=1)
    rng = np.random.default_rng(5)
    crops = [sources.sharp_crop(rng, held_out=True) for _ in range(12)]
    sweep = {}
    for length in LENGTHS:
        blurred = np.stack([blur(c, MotionField.uniform(c.shape, length, rng.uniform(0, 180)),
                                 0.005, seed=i) for i, c in enumerate(crops)])
        x = torch.from_numpy(blurred)[:, None]
        for name, _, model in models:
            per_crop = lengths(model, x)[:, 20:-20, 20:-20].flatten(1).median(1).values
            sweep.setdefault(name, {})[length] = np.percentile(per_crop.numpy(), [25, 50, 75])
    x, y, _ = make_batch(sources, np.random.default_rng(VALIDATION_SEED), 32, held_out=True,
                         mode="mixed")
    true = y[:, 2] * OUTPUT_SCALE
    ratios = {}
    for name, _, model in models:
        ratio = lengths(model, x) / true.clamp_min(1e-6)
        pick = {"all": true >= 3, "l < 10 px": (true >= 3) & (true < 10), "l > 20 px": true > 20}
        ratios[name] = {k: float(ratio[m].median()) for k, m in pick.items()}
        ratios[name]["median |ratio - 1|"] = float((ratio[true >= 3] - 1).abs().median())
    lines = ["# Motion-Net's length bias (plain network, held-out Train400 crops)", "",
             "Weights: " + "; ".join(f"{n} = `{p}`" for n, p, _ in models) + ".", "",
             f"Machine: {machine(args.threads)}.", "",
             "Uniform blur of each length, 12 held-out 112-px crops (node operator, sigma "
             "0.005): median estimated length, median [quartiles] over the crops.", "",
             "| true length | " + " | ".join(n for n, _, _ in models) + " |",
             "|---|" + "---|" * len(models)]
    for length in LENGTHS:
        cells = [f"{q[1]:.1f} [{q[0]:.1f}, {q[2]:.1f}]" for q in
                 (sweep[n][length] for n, _, _ in models)]
        lines.append(f"| {length} px | " + " | ".join(cells) + " |")
    keys = list(next(iter(ratios.values())))
    lines += ["", "The training script's 32 mixed validation crops: median estimated / true "
              "length.",
              "", "| pixels | " + " | ".join(n for n, _, _ in models) + " |",
              "|---|" + "---|" * len(models)]
    lines += [f"| {k} | " + " | ".join(f"{ratios[n][k]:.3f}" for n, _, _ in models) + " |"
              for k in keys]
    shares = {}
    for long_share in (0.0, 0.6):
        draw = np.random.default_rng(1)
        drawn = np.concatenate([make_sample(sources, draw, mode="mixed",
                                            long_share=long_share)[1].length.ravel()
                                for _ in range(150)])
        shares[long_share] = {t: float((drawn > t).mean()) for t in (10, 20, 26, 30)}
    lines += ["", "150 mixed training crops: share of the pixels streaking longer than ...", "",
              "| `--long-share` | > 10 px | > 20 px | > 26 px | > 30 px |", "|---|---|---|---|---|"]
    lines += [f"| {k:g} | " + " | ".join(f"{100 * v:.1f} %" for v in d.values()) + " |"
              for k, d in shares.items()]
    save("length_bias", {"machine": machine(args.threads), "weights": args.weights,
                         "training_shares": {str(k): v for k, v in shares.items()},
                         "sweep": {n: {str(k): v.tolist() for k, v in s.items()}
                                   for n, s in sweep.items()}, "validation": ratios},
         "\n".join(lines))


if __name__ == "__main__":
    main()
