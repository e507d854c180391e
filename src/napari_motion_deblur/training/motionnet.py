"""Train Motion-Net on blurred crops synthesized on the fly with the project's forward model.

Usage (from the repository root)::

    python -m napari_motion_deblur.training.motionnet --minutes 60 --out runs/motionnet

Sharp crops come from a folder of images (``--data``, default ``$NAPARI_MOTION_DEBLUR_DATA``:
e.g. the 400 BSD training images), scikit-image's bundled photos (``camera`` is left out: the
tests use it) and synthetic microscopy-like scenes. Each crop is blurred by
:class:`~napari_motion_deblur.physics.operators.NonUniformBlur` with a
``random_field(kind="mixed")``, noised (sigma in [0, 0.02]) and flipped/rotated together with
its field. ``--minutes`` is the total training time: a run resumed with ``--resume`` continues
until that total. The best checkpoint on a fixed validation set (32 crops, its own seed and
held-out source images) is kept. ``--workers N`` draws the batches in N processes (a
multi-core machine feeding a GPU); each worker's stream is seeded by ``--seed``, its index and
the step it starts at, so a run is reproducible given its workers, and a resumed run draws new
batches rather than replaying the first ones.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..estimation.length_bins import bin_count, classification_loss
from ..estimation.motionnet import (
    OUTPUT_SCALE,
    MotionNet,
    extended,
    from_field,
    load_weights,
    save_weights,
    streak_error,
    to_field,
)
from ..motion import MotionField
from ..physics.degradation import degrade, strong_shake_field
from ..physics.operators import NonUniformBlur
from ..physics.synthesis import camera_shake_field, random_field, uniform_random_field
from ._loop import (
    Progress,
    environment,
    load_state,
    run_budgeted,
    start_run,
    training_parser,
)
from .sources import CROP, SKIMAGE_PHOTOS, Sources, folder_split, synthetic_scene  # noqa: F401

#: Weight of the length bins' cross-entropy in :func:`loss_fn` (it is ~2 at the start, the
#: regression terms ~0.2).
CLASSIFICATION_WEIGHT = 0.1
VALIDATION_SIZE = 32
VALIDATION_SEED = 20181008
MAX_NOISE = 0.02
#: Training data modes: blur by IRC-Net's node operator (how the shipped weights began), or by
#: the exact per-pixel operator with strong camera shake and, for half the samples, the
#: realistic camera pipeline (linear light, curved paths, clipping, Poisson-Gaussian noise,
#: sRGB, JPEG), or each sample drawn from either at even odds (fine-tuning on the second without
#: forgetting the first).
DATA_MODES = ("node", "exact", "mixed")
_MARGIN = 20


# ----------------------------------------------------------------------------- augmentation
def augment(image: np.ndarray, field: MotionField, rotations: int = 0, flip: bool = False):
    """Flip (left-right) then rotate (``np.rot90``) an image together with its field.

    Blurring the transformed image with the transformed field equals transforming the blurred
    image (see :meth:`MotionField.fliplr` and :meth:`MotionField.rot90`).
    """
    if flip:
        image, field = image[:, ::-1], field.fliplr()
    return np.ascontiguousarray(np.rot90(image, rotations % 4)), field.rot90(rotations)


def long_field(shape, rng: np.random.Generator) -> MotionField:
    """Camera shake or uniform motion (even odds), the longest streak uniform in 14-35 px.

    The usual fields draw their longest streak below a maximum that is itself random, so only
    ~4 % of the pixels of a batch streak longer than 20 px and ~1 % longer than 26 px
    (``benchmarks/length_bias.py``); a network trained on that answers long streaks short.
    These fields fill that range.
    """
    length = rng.uniform(14.0, 35.0)
    if rng.uniform() < 0.5:
        return camera_shake_field(shape, rng, max_length=length, min_length=length)
    return uniform_random_field(shape, rng, max_length=length, min_length=length)


def _is_long(rng: np.random.Generator, long_share: float) -> bool:
    # No draw at all without long fields: the batches (and the validation set) stay as before.
    return long_share > 0 and rng.uniform() < long_share


def _exact_sample(sources: Sources, rng: np.random.Generator, held_out: bool,
                  long_share: float = 0.0):
    sharp = sources.sharp_crop(rng, held_out, margin=_MARGIN)
    margin = (sharp.shape[0] - sources.crop) // 2
    max_length = rng.uniform(8.0, 35.0)
    if _is_long(rng, long_share):
        field = long_field(sharp.shape, rng)
    elif rng.uniform() < 0.05:
        field = MotionField.uniform(sharp.shape, 0.0, 0.0)
    elif rng.uniform() < 0.4:
        field = strong_shake_field(sharp.shape, rng, max_length=max_length)
    else:
        field = random_field(sharp.shape, rng, kind="mixed", max_length=max_length)
    obs = degrade(sharp, field, int(rng.integers(2**31)), realistic=bool(rng.uniform() < 0.5),
                  sigma=float(rng.uniform(0, MAX_NOISE)), crop=margin)
    side = sources.crop
    blurred, field = obs.blurred[:side, :side], obs.field
    field = MotionField(field.length[:side, :side], field.angle[:side, :side])
    return augment(blurred.astype(np.float32), field, int(rng.integers(4)),
                   bool(rng.integers(2)))


def make_sample(sources: Sources, rng: np.random.Generator, held_out: bool = False,
                mode: str = "node", long_share: float = 0.0):
    """One training pair: (blurred noisy luminance (H, W), true field), see :data:`DATA_MODES`;
    a share ``long_share`` of the fields are :func:`long_field`.
    """
    if mode == "mixed":
        mode = "exact" if rng.uniform() < 0.5 else "node"
    if mode == "exact":
        return _exact_sample(sources, rng, held_out, long_share)
    sharp = sources.sharp_crop(rng, held_out)
    shape = sharp.shape
    if _is_long(rng, long_share):
        field = long_field(shape, rng)
    elif rng.uniform() < 0.05:
        field = MotionField.uniform(shape, 0.0, 0.0)
    else:
        field = random_field(shape, rng, kind="mixed", max_length=rng.uniform(8.0, 35.0))
    with torch.no_grad():
        blurred = NonUniformBlur(field)(torch.from_numpy(sharp)[None])[0].numpy()
    blurred = blurred + rng.normal(0, rng.uniform(0, MAX_NOISE), shape).astype(np.float32)
    return augment(blurred, field, int(rng.integers(4)), bool(rng.integers(2)))


def make_batch(sources, rng, size, held_out=False, mode="node", long_share=0.0):
    """A batch: inputs (B, 1, H, W), targets (B, 2, H, W) and the true fields."""
    pairs = [make_sample(sources, rng, held_out, mode, long_share) for _ in range(size)]
    x = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
    y = torch.from_numpy(np.stack([from_field(p[1]) for p in pairs]))
    return x, y, [p[1] for p in pairs]


class BatchStream(torch.utils.data.IterableDataset):
    """Endless training batches ``(x, y)`` (:func:`make_batch`) for a ``DataLoader``'s workers.

    Worker ``i`` draws from ``default_rng([seed, start_step, i])`` with one torch thread, so the
    workers do not compete for the cores they run on.
    """

    def __init__(self, sources: Sources, batch: int, mode: str, seed: int, start_step: int,
                 long_share: float = 0.0):
        super().__init__()
        self.sources, self.batch, self.mode = sources, batch, mode
        self.seed, self.start_step, self.long_share = seed, start_step, long_share

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = info.id if info is not None else 0
        if info is not None:
            torch.set_num_threads(1)
        rng = np.random.default_rng([self.seed, self.start_step, worker])
        while True:
            x, y, _ = make_batch(self.sources, rng, self.batch, mode=self.mode,
                                 long_share=self.long_share)
            yield x, y


def _batches_here(sources: Sources, rng: np.random.Generator, batch: int, mode: str,
                  long_share: float):
    while True:  # drawn from the run's own generator, which the resumable state saves
        yield make_batch(sources, rng, batch, mode=mode, long_share=long_share)[:2]


def loss_fn(prediction: torch.Tensor, target: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """Length error (Huber, threshold ``beta`` x 10 px) plus a length-weighted direction error,
    plus, when ``prediction`` (:meth:`MotionNet.raw`) has length bins, their cross-entropy
    (weight :data:`CLASSIFICATION_WEIGHT`).

    The direction ``(cos 2a, sin 2a)`` is sign-free and continuous at 0/180 degrees; its squared
    error is weighted by the true length (capped at 10 px), as angles matter in proportion to
    the streak and not at all without blur. Learning length and direction separately avoids
    the collapse to zero of a regressor that is unsure of the angle.
    """
    length = F.smooth_l1_loss(prediction[:, 2], target[:, 2], beta=beta)
    weight = (target[:, 2] * OUTPUT_SCALE - 1.0).clamp(0.0, 10.0) / 10.0
    direction = (weight * (prediction[:, :2] - target[:, :2]).square().sum(1)).mean()
    if prediction.shape[1] == 3:
        return length + direction
    classes = classification_loss(prediction[:, 3:], target[:, 2] * OUTPUT_SCALE)
    return length + direction + CLASSIFICATION_WEIGHT * classes


@torch.no_grad()
def validate(model: MotionNet, batch) -> float:
    """Mean sign-free streak-vector squared error (px^2) over a validation batch."""
    model.eval()
    x, _, fields = batch
    out = torch.cat([model(x[i : i + 8]) for i in range(0, len(x), 8)])
    model.train()
    return float(np.mean([streak_error(to_field(o), f) for o, f in zip(out, fields)]))


# ----------------------------------------------------------------------------------- training
def parse_args(argv=None):
    parser = training_parser(__doc__.splitlines()[0],
                             data_help="folder of sharp images (any size >= the crop; gray or "
                                       "RGB)", out="runs/motionnet", minutes=60.0, batch=8,
                             lr=1.5e-3, threads=1, resume_help="continue from --state")
    parser.add_argument("--state", default=None,
                        help="resume file (default: <out>/motionnet_state.pt)")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--normalize", choices=("local", "none"), default="local",
                        help="input normalization (local contrast or none)")
    parser.add_argument("--beta", type=float, default=0.5,
                        help="Huber threshold of the length loss (x 10 px)")
    parser.add_argument("--synthetic", type=int, default=64,
                        help="number of synthetic microscopy-like scenes in the pool")
    parser.add_argument("--photos", action=argparse.BooleanOptionalAction, default=True,
                        help="also train on scikit-image's bundled photos")
    parser.add_argument("--mode", choices=DATA_MODES, default="node",
                        help="training data: node operator, exact operator + camera pipeline, or "
                             "either at even odds")
    parser.add_argument("--crop", type=int, default=CROP,
                        help="training and validation crop side (px)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes drawing the batches (0: in the training process)")
    parser.add_argument("--length-bins", type=int, default=0,
                        help="classify the length into this many 2-px bins too (0: regression "
                             f"only; {bin_count()} cover all lengths); with --init, a new head")
    parser.add_argument("--length-quantile", type=float, default=0.5,
                        help="the length read from the bins' distribution")
    parser.add_argument("--coarse-shifts", type=int, nargs="*", default=[],
                        help="longer front-end difference distances (px; e.g. 24 32), at half "
                             "resolution; with --init, new inputs")
    parser.add_argument("--long-share", type=float, default=0.0,
                        help="share of the crops whose fields streak long (12-35 px; see "
                             "long_field); the validation crops too")
    parser.add_argument("--init", default=None,
                        help="start from these weights (fine-tuning), e.g. resources/motionnet.pt")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Run training; returns the final metadata dictionary."""
    args = parse_args(argv)
    out = start_run(args)
    state_path = Path(args.state) if args.state else out / "motionnet_state.pt"
    log_path = out / "motionnet_train_log.csv"
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    if args.crop < 32 or args.workers < 0 or not 0 <= args.long_share <= 1:
        raise SystemExit("--crop must be at least 32, --workers at least 0 and --long-share "
                         "in [0, 1]")
    sources = Sources(args.data, crop=args.crop, synthetic_pool=args.synthetic, seed=args.seed,
                      photos=args.photos)
    val_x, val_y, val_fields = make_batch(sources, np.random.default_rng(VALIDATION_SEED),
                                          VALIDATION_SIZE, held_out=True, mode=args.mode,
                                          long_share=args.long_share)
    val_batch = (val_x.to(device), val_y, val_fields)
    zero_error = float(np.mean([streak_error(MotionField.uniform(f.shape, 0, 0), f)
                                for f in val_fields]))

    model = (load_weights(args.init) if args.init else
             MotionNet(width=args.width, normalize=args.normalize, length_bins=args.length_bins,
                       length_quantile=args.length_quantile,
                       coarse_shifts=args.coarse_shifts)).to(device)
    initial = validate(model, val_batch) if args.init else None
    changes = {}
    if args.init and args.length_bins and not model.config.get("length_bins"):
        changes.update(length_bins=args.length_bins, length_quantile=args.length_quantile)
    if args.init and args.coarse_shifts and not model.config.get("coarse_shifts"):
        changes.update(coarse_shifts=args.coarse_shifts)
    # New bins change the answers (uniform at first); new inputs do not (zero weights), so
    # then the tuned weights must still beat the initial ones to be kept.
    new_head = "length_bins" in changes
    if changes:  # fine-tune new outputs or inputs onto trained weights
        model = extended(model, **changes)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    progress = Progress()
    if args.resume and state_path.exists():
        progress = Progress(*load_state(state_path, model, optimizer, rng, device))
        print(f"resumed at step {progress.step}, {progress.elapsed / 60:.1f} min, "
              f"best {progress.best:.2f} px^2", flush=True)
    elif log_path.exists():
        log_path.unlink()
    params = sum(p.numel() for p in model.parameters())
    if initial is not None and not args.resume and not new_head:
        progress.best = initial  # fine-tuning keeps new weights only when they beat the initial
    print(f"Motion-Net: {params} parameters; {len(sources.train)} training images; "
          f"validation zero-field error {zero_error:.2f} px^2, initial weights "
          f"{initial if initial is not None else float('nan'):.2f} px^2", flush=True)

    def metadata():
        return {
            "model": "MotionNet", "config": model.config, "parameters": params,
            "training_data": {"folder": Path(args.data).name if args.data else None,
                              "skimage_photos": list(SKIMAGE_PHOTOS),
                              "synthetic_scenes": len(sources.synthetic),
                              "fields": "random_field(kind='mixed'), max length 8-35 px"
                              + {"node": "", "exact": " + strong_shake_field (40 %)",
                                 "mixed": "; half the samples as in mode 'exact'"}[args.mode],
                              "mode": args.mode, "init": args.init,
                              "long_share": args.long_share,
                              "noise_sigma_max": MAX_NOISE, "crop": args.crop},
            "batch": args.batch, "workers": args.workers, "lr": args.lr,
            "huber_beta": args.beta, "seed": args.seed,
            "steps": progress.step,
            "minutes": round(progress.elapsed / 60.0, 2),
            "validation": {"crops": VALIDATION_SIZE, "seed": VALIDATION_SEED,
                           "metric": "sign-free streak-vector MSE (px^2)",
                           "best": progress.best, "zero_field": zero_error, "mode": args.mode,
                           "initial_weights": initial},
            **environment(args.threads, device),
        }

    if args.workers:
        stream = torch.utils.data.DataLoader(
            BatchStream(sources, args.batch, args.mode, args.seed, progress.step,
                        args.long_share),
            batch_size=None, num_workers=args.workers, prefetch_factor=4,
            pin_memory=device.type == "cuda", persistent_workers=True)
        batches = iter(stream)
    else:
        batches = _batches_here(sources, rng, args.batch, args.mode, args.long_share)

    def batch_loss():
        x, y = next(batches)
        return loss_fn(model.raw(x.to(device, non_blocking=True)),
                       y.to(device, non_blocking=True), args.beta)

    run_budgeted(
        model, optimizer, progress, budget=args.minutes * 60.0, base_lr=args.lr, warmup=200,
        batch_loss=batch_loss, validate=lambda: validate(model, val_batch),
        improves=lambda new, best: new < best,
        save_best=lambda: save_weights(model, out / "motionnet.pt", metadata()),
        state_path=state_path, rng=rng,
        log_path=log_path, metric="val_streak_mse", validate_every=args.validate_every,
        describe=lambda value: f"val {value:.2f} px^2 (best {min(progress.best, value):.2f})")
    meta = metadata()
    if (out / "motionnet.json").exists():  # record the final totals with the best weights
        import json

        saved = json.loads((out / "motionnet.json").read_text())
        saved.update({"steps_total": progress.step, "minutes_total": meta["minutes"]})
        (out / "motionnet.json").write_text(json.dumps(saved, indent=2))
    return meta


if __name__ == "__main__":
    main()
