"""Learn IRC-Net's shrinkage (paper Secs. 3.2, 4.2): per-stage thresholds and dual step sizes.

Usage (from the repository root)::

    python -m napari_motion_deblur.training.ircnet --data TRAIN400 --minutes 10 \
        --out runs/ircnet

Pairs: a sharp crop (training images, scikit-image's photos, synthetic scenes; see
:class:`~napari_motion_deblur.training.sources.Sources`) blurred by the exact per-pixel
operator with strong camera shake or mixed fields up to 35 px and Gaussian noise
(:func:`~napari_motion_deblur.physics.degradation.degrade`, linear variant), 20 px of border
cut. IRC-Net deconvolves each with its true field exactly as ``deconvolve()`` does for a known
field (exact data term, 5 stages x 2 iterations, the default TV weight), and the loss is minus
the PSNR against the sharp crop. What is learned: each stage's soft-threshold factors
(``log_threshold``, one per gradient filter) and dual step (``update_rate``), starting from the
analytic values (1, 1). The inverse filters stay analytic: their structure ``d = K^T h`` is what
makes IRC a preconditioned iteration on the right equations (a free fit biases the fixed point,
see :mod:`~napari_motion_deblur.physics.inverse_filters`), and the conjugate-gradient solver
recovers ``h`` from them.

Validation: mean PSNR gain over the analytic network on pairs from the held-out images (every
10th). Only a run that beats the analytic network (gain > 0) saves ``ircnet_learned.pt``;
``--resume`` continues a run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..motion import MotionField
from ..physics.degradation import degrade, strong_shake_field
from ..physics.synthesis import random_field
from ..settings import DEFAULT_LAMBDA
from ..solvers.irc import IRCNet
from ..solvers.irc_weights import load_learned, save_learned
from ._loop import Progress, environment, load_state, run_budgeted, start_run, training_parser
from .sources import Sources

PAIR = 140
VALIDATION_SIZE = 24
VALIDATION_SEED = 20241127
STAGES, ITERATIONS = 5, 2
_BORDER = 20
_INNER = 8  # px of each pair's border left out of the loss


def make_pair(sources: Sources, rng: np.random.Generator, held_out: bool = False):
    """``(blurry, sharp, field)``, each PAIR x PAIR, the blur made pixel by pixel."""
    sharp = sources.sharp_crop(rng, held_out, margin=_BORDER)
    need = PAIR + 2 * _BORDER
    sharp = np.pad(sharp, ((0, max(need - sharp.shape[0], 0)), (0, max(need - sharp.shape[1], 0))),
                   mode="reflect")
    max_length = rng.uniform(6.0, 35.0)
    if rng.uniform() < 0.4:
        field = strong_shake_field(sharp.shape, rng, max_length=max_length)
    else:
        field = random_field(sharp.shape, rng, kind="mixed", max_length=max_length)
    obs = degrade(sharp, field, int(rng.integers(2**31)), sigma=float(rng.uniform(0.005, 0.015)),
                  crop=_BORDER)
    inner = (slice(0, PAIR), slice(0, PAIR))
    field = MotionField(obs.field.length[inner], obs.field.angle[inner])
    return obs.blurred[inner].astype(np.float32), obs.sharp[inner].astype(np.float32), field


def restore(net: IRCNet, pair, device) -> torch.Tensor:
    """IRC-Net's result for one pair (differentiable in the learned parameters)."""
    blurry, _, field = pair
    ops = net.motion_operators(field, exact=True)
    y = torch.from_numpy(blurry)[None].to(device)
    return net(y, ops, STAGES, ITERATIONS, DEFAULT_LAMBDA)[0]


def pair_loss(net: IRCNet, pair, device) -> torch.Tensor:
    """Minus the PSNR (dB) of the result inside the pair, against the sharp crop."""
    sharp = torch.from_numpy(pair[1]).to(device)
    inner = (slice(_INNER, -_INNER), slice(_INNER, -_INNER))
    error = (restore(net, pair, device)[inner] - sharp[inner]).square().mean()
    return 10.0 * torch.log10(error + 1e-8)


@torch.no_grad()
def psnr_values(net: IRCNet, pairs, device) -> np.ndarray:
    return np.array([-float(pair_loss(net, pair, device)) for pair in pairs])


def parse_args(argv=None):
    parser = training_parser(__doc__.splitlines()[0],
                             data_help="folder of sharp training images (without one: photos "
                                       "and synthetic scenes only)",
                             out="runs/ircnet", minutes=10.0, batch=4, lr=0.02)
    parser.add_argument("--samples", type=int, default=240, help="training pairs")
    parser.add_argument("--validation", type=int, default=VALIDATION_SIZE,
                        help="held-out pairs")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Make the pairs, then train; returns the final metadata."""
    args = parse_args(argv)
    out = start_run(args)
    state_path, log_path = out / "ircnet_state.pt", out / "ircnet_train_log.csv"
    sources = Sources(args.data, crop=PAIR, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    pairs = [make_pair(sources, np.random.default_rng([args.seed, i]))
             for i in range(args.samples)]
    val_pairs = [make_pair(sources, np.random.default_rng([VALIDATION_SEED, i]), held_out=True)
                 for i in range(args.validation)]
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    net = IRCNet().to(device)
    net.inverse_bank.requires_grad_(False)
    learned = [net.log_threshold, net.update_rate]
    optimizer = torch.optim.Adam(learned, lr=args.lr)
    analytic = psnr_values(net, val_pairs, device)
    progress = Progress(best=0.0)  # the analytic network (gain 0) is the bar to beat
    if args.resume and state_path.exists():
        progress = Progress(*load_state(state_path, net, optimizer, rng, device))
    elif log_path.exists():
        log_path.unlink()
    print(f"{len(pairs)} training pairs, {len(val_pairs)} held-out; analytic PSNR "
          f"{analytic.mean():.2f} dB", flush=True)

    def batch_loss() -> torch.Tensor:
        chosen = rng.integers(len(pairs), size=args.batch)
        return torch.stack([pair_loss(net, pairs[int(i)], device) for i in chosen]).mean()

    def metadata() -> dict:
        return {
            "model": "IRCNet (learned shrinkage)", "stages": STAGES, "iterations": ITERATIONS,
            "learned": ["log_threshold", "update_rate"],
            "training_data": {"folder": Path(args.data).name if args.data else None,
                              "pairs": len(pairs), "pair_side": PAIR,
                              "fields": "strong_shake_field (40 %) or random_field('mixed'), "
                                        "max length 6-35 px, exact per-pixel operator",
                              "noise_sigma": [0.005, 0.015], "tv_weight": DEFAULT_LAMBDA},
            "batch": args.batch, "lr": args.lr, "seed": args.seed, "steps": progress.step,
            "minutes": round(progress.elapsed / 60.0, 2),
            "validation": {"pairs": len(val_pairs), "seed": VALIDATION_SEED,
                           "metric": "mean PSNR gain over the analytic network (dB)",
                           "analytic_psnr": float(analytic.mean()), "best": progress.best},
            **environment(args.threads, device),
        }

    run_budgeted(
        net, optimizer, progress, budget=args.minutes * 60.0, base_lr=args.lr, warmup=10,
        batch_loss=batch_loss,
        validate=lambda: float(np.mean(psnr_values(net, val_pairs, device) - analytic)),
        improves=lambda new, best: new > best,
        save_best=lambda: save_learned(net, out / "ircnet_learned.pt", metadata()),
        state_path=state_path, rng=rng, log_path=log_path, metric="val_psnr_gain",
        validate_every=args.validate_every,
        describe=lambda value: f"val gain {value:+.3f} dB (best {max(progress.best, value):+.3f})")
    if (out / "ircnet_learned.pt").exists():
        load_learned(out / "ircnet_learned.pt")  # what was saved loads back (else ValueError)
    return metadata()


if __name__ == "__main__":
    main()
