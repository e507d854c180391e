"""Train the blind chain's refiner (:class:`~napari_motion_deblur.solvers.refiner.Refiner`).

Usage (from the repository root)::

    python -m napari_motion_deblur.training.refiner --data TRAIN400 --samples 1400 \
        --minutes 25 --out runs/refiner

Training pairs are made by the blind chain itself. A sharp crop (training images,
scikit-image's photos, synthetic microscopy-like scenes; see
:class:`~napari_motion_deblur.training.sources.Sources`) is blurred through the exact
per-pixel operator with strong camera shake or mixed fields and, for half the samples
(``--realistic-fraction``), the realistic camera pipeline
(:func:`~napari_motion_deblur.physics.degradation.degrade`);
Motion-Net estimates the field and IRC-Net deconvolves with it exactly as ``deblur()`` does.
The refiner learns to map that result (with the blurry input and the length map) to the sharp
crop (per-crop PSNR loss; ``--init`` fine-tunes given weights). Making a pair costs about 0.7 s
on a 2-core CPU, so the pairs are made once and kept in ``--pool`` (extended when
``--samples`` grows; the run is resumable with ``--resume``); ``--workers N`` makes them in N
processes, ``--pool-minutes`` bounds the time spent on them. Validation: PSNR gain over the
unrefined result on pairs made from the held-out images (every 10th).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from ..deconvolution import deconvolve
from ..estimation.api import estimate_with_confidence
from ..motion import MotionField
from ..physics.compression import looks_jpeg_compressed
from ..physics.degradation import degrade, strong_shake_field
from ..physics.synthesis import random_field
from ..settings import BLIND_LENGTH_SCALE, DeblurSettings
from ..solvers.refiner import Refiner, load_refiner, save_refiner, widened
from ._loop import Progress, environment, load_state, run_budgeted, start_run, training_parser
from .motionnet import MAX_NOISE
from .sources import Sources

#: Side of a pair (after the 20-px border that no method sees; Train400 images are 180 px);
#: training crops are smaller.
PAIR = 140
TRAIN_CROP = 128
VALIDATION_SIZE = 48
VALIDATION_SEED = 20240611
_BORDER = 20
#: The share of pairs made through the realistic camera pipeline (the rest: Gaussian noise).
REALISTIC_FRACTION = 0.5


def blind_chain(device: str = "cpu") -> DeblurSettings:
    """``deblur()``'s default settings on ``device``: the chain whose results are refined."""
    defaults = DeblurSettings()
    return defaults.replace(estimation=defaults.estimation.replace(device=device),
                            deconvolution=defaults.deconvolution.replace(device=device,
                                                                         refine=False))


def make_pair(sources: Sources, rng: np.random.Generator, held_out: bool = False,
              settings: DeblurSettings | None = None, photos_in_linear_light: bool = False,
              realistic_fraction: float = REALISTIC_FRACTION) -> np.ndarray:
    """One pair as a (4, PAIR, PAIR) stack: deconvolved, blurry, length used, sharp
    (``settings``: default :func:`blind_chain`; ``photos_in_linear_light``: the pairs through
    the camera pipeline are deconvolved in linear light, as a user would deblur photographs;
    ``realistic_fraction``: the chance that a pair goes through the camera pipeline)."""
    settings = settings or blind_chain()
    sharp = sources.sharp_crop(rng, held_out, margin=_BORDER)
    need = PAIR + 2 * _BORDER  # a smaller image (skimage's "text": 172 px) is mirrored out
    sharp = np.pad(sharp, ((0, max(need - sharp.shape[0], 0)), (0, max(need - sharp.shape[1], 0))),
                   mode="reflect")
    max_length = rng.uniform(6.0, 35.0)
    if rng.uniform() < 0.05:
        field = MotionField.uniform(sharp.shape, 0.0, 0.0)
    elif rng.uniform() < 0.4:
        field = strong_shake_field(sharp.shape, rng, max_length=max_length)
    else:
        field = random_field(sharp.shape, rng, kind="mixed", max_length=max_length)
    realistic = bool(rng.uniform() < realistic_fraction)
    obs = degrade(sharp, field, int(rng.integers(2**31)), realistic=realistic,
                  sigma=float(rng.uniform(0, MAX_NOISE)), crop=_BORDER)
    side = PAIR
    blurry = np.clip(obs.blurred[:side, :side], 0.0, 1.0).astype(np.float32)
    estimate = estimate_with_confidence(blurry, settings=settings.estimation)
    used = estimate.for_deblurring(settings.length_scale)
    config = settings.deconvolution_for(estimate.confidence)
    if realistic and photos_in_linear_light:
        config = config.replace(linear_light=True)
    result = deconvolve(blurry, used, settings=config)
    length = np.where(used.length > 1.0, used.length, 0.0)
    return np.stack([result, blurry, length, obs.sharp[:side, :side]]).astype(np.float32)


def _pair_chunk(sources: Sources, seed: int, start: int, count: int, held_out: bool,
                settings: DeblurSettings, photos_in_linear_light: bool = False,
                realistic_fraction: float = REALISTIC_FRACTION) -> np.ndarray:
    """Pairs ``start .. start + count`` of a pool: seeded by ``(seed, start)``, so a chunk is the
    same whichever process makes it and whenever."""
    rng = np.random.default_rng([seed, start])
    return np.stack([make_pair(sources, rng, held_out, settings, photos_in_linear_light,
                               realistic_fraction) for _ in range(count)])


_WORKER: dict = {}


def _start_worker(sources: Sources, photos_in_linear_light: bool,
                  realistic_fraction: float) -> None:
    torch.set_num_threads(1)  # one core per process: the processes share the machine's cores
    _WORKER.update(sources=sources, settings=blind_chain(), photos=photos_in_linear_light,
                   realistic=realistic_fraction)


def _worker_chunk(seed: int, start: int, count: int, held_out: bool) -> np.ndarray:
    return _pair_chunk(_WORKER["sources"], seed, start, count, held_out, _WORKER["settings"],
                       _WORKER["photos"], _WORKER["realistic"])


def extend_pool(folder: Path, name: str, samples: int, sources: Sources, seed: int,
                held_out: bool = False, chunk: int = 50, log=print, workers: int = 0,
                minutes: float | None = None, photos_in_linear_light: bool = False,
                realistic_fraction: float = REALISTIC_FRACTION) -> np.ndarray:
    """The pairs ``<folder>/<name>_*.npy`` made so far, plus new chunks of ``chunk`` pairs (each
    its own file, written atomically) until there are ``samples``.

    ``workers`` > 0 makes the chunks in that many processes (one thread each; the same pairs as
    one process makes, chunk for chunk). ``minutes``: start no new chunk after that long, so
    the pool may end smaller than ``samples`` (a time-budgeted run on a lent machine).
    ``photos_in_linear_light``: see :func:`make_pair` (a pool is made one way throughout).
    ``realistic_fraction``: see :func:`make_pair`; it applies to the new chunks only, so a pool
    made at 0.5 can be extended with camera-pipeline pairs alone (1.0).
    """
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [np.load(path) for path in sorted(folder.glob(f"{name}_*.npy"))]
    made = sum(len(c) for c in chunks)
    first, start = made, time.time()
    deadline = None if minutes is None else start + 60.0 * minutes

    def keep(pairs: np.ndarray) -> None:
        nonlocal made
        tmp = folder / f".{name}_{made:06d}.tmp.npy"
        np.save(tmp, pairs)
        os.replace(tmp, folder / f"{name}_{made:06d}.npy")
        chunks.append(pairs)
        made += len(pairs)
        log(f"pool {name}: {made}/{samples} pairs "
            f"({(time.time() - start) / max(made - first, 1):.2f} s per pair)")

    def more(begin: int) -> bool:
        return begin < samples and (deadline is None or time.time() < deadline)

    if workers <= 0:
        settings = blind_chain()
        while more(made):
            keep(_pair_chunk(sources, seed, made, min(chunk, samples - made), held_out,
                             settings, photos_in_linear_light, realistic_fraction))
        return _joined(chunks, samples)
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_start_worker,
                             initargs=(sources, photos_in_linear_light,
                                       realistic_fraction)) as pool:
        pending, begin = deque(), made
        while pending or more(begin):
            while len(pending) < 2 * workers and more(begin):
                count = min(chunk, samples - begin)
                pending.append(pool.submit(_worker_chunk, seed, begin, count, held_out))
                begin += count
            keep(pending.popleft().result())  # in order: file names follow the pair index
    return _joined(chunks, samples)


def _joined(chunks: list, samples: int) -> np.ndarray:
    if not chunks:
        return np.empty((0, 4, PAIR, PAIR), np.float32)
    return np.concatenate(chunks)[:samples]


def training_batch(pool: np.ndarray, rng: np.random.Generator, size: int,
                   crop: int = TRAIN_CROP) -> torch.Tensor:
    """Random crops of random pairs, flipped and turned: (size, 4, crop, crop)."""
    out = np.empty((size, 4, crop, crop), np.float32)
    for i in range(size):
        pair = pool[int(rng.integers(len(pool)))]
        r = int(rng.integers(pair.shape[1] - crop + 1))
        c = int(rng.integers(pair.shape[2] - crop + 1))
        patch = pair[:, r : r + crop, c : c + crop]
        if rng.integers(2):
            patch = patch[:, :, ::-1]
        out[i] = np.rot90(patch, int(rng.integers(4)), axes=(1, 2))
    return torch.from_numpy(out)


def loss_fn(model: Refiner, batch: torch.Tensor, border: int = 4,
            kind: str = "psnr") -> torch.Tensor:
    """Training loss of the refined image against the sharp one, away from the crop's border.

    ``"psnr"`` (default): the mean over crops of ``10 log10(MSE + 1e-5)``, i.e. minus the mean
    PSNR, which is what the benchmarks average. Every crop counts the same in decibels, so the
    noisy, JPEG-compressed crops (large errors) cannot outweigh the clean ones, where the
    refinement must leave a good deconvolution alone. ``"mse"``: the squared error pooled over
    the batch (the first shipped refiner's loss), dominated by the worst crops.
    """
    refined = model(batch[:, 0], batch[:, 1], batch[:, 2])
    inner = (slice(None), slice(border, -border), slice(border, -border))
    error = (refined[inner] - batch[:, 3][inner]).square()
    if kind == "mse":
        return error.mean()
    if kind != "psnr":
        raise ValueError(f"loss kind must be 'psnr' or 'mse', got {kind!r}")
    return (10.0 * torch.log10(error.mean(dim=(1, 2)) + 1e-5)).mean()


@torch.no_grad()
def psnr_gain(model: Refiner, pool: np.ndarray) -> float:
    """Mean PSNR gain (dB) of the refined over the unrefined result on whole pairs."""
    model.eval()
    device = next(model.parameters()).device
    gains = []
    for i in range(0, len(pool), 8):
        batch = torch.from_numpy(pool[i : i + 8]).to(device)
        refined = model(batch[:, 0], batch[:, 1], batch[:, 2]).clamp(0, 1)
        for before, after, sharp in zip(batch[:, 0], refined, batch[:, 3]):
            mse_before = float((before.clamp(0, 1) - sharp).square().mean())
            mse_after = float((after - sharp).square().mean())
            gains.append(10 * math.log10(mse_before / max(mse_after, 1e-12)))
    model.train()
    return float(np.mean(gains))


def jpeg_pairs(pool: np.ndarray, jpeg: bool = True) -> np.ndarray:
    """The pairs whose blurry input is recognised as JPEG-compressed (the camera-pipeline half;
    ``jpeg=False``: the others, which the default refiner gets)."""
    return pool[[looks_jpeg_compressed(pair[1]) == jpeg for pair in pool]]


def initial_model(start: Refiner | None, width: int | None, seed: int) -> Refiner:
    """The refiner training starts from: the identity of ``width`` channels (default 16), or
    ``start`` (given weights), widened to ``width`` if that is larger (:func:`widened`)."""
    if start is None:
        return Refiner(width=width or 16)
    if width is None or width == start.config["width"]:
        return start
    try:
        return widened(start, width, seed)
    except ValueError as err:
        raise SystemExit(f"--width: {err}") from None


def parse_args(argv=None):
    parser = training_parser(__doc__.splitlines()[0], data_help="folder of sharp images",
                             out="runs/refiner", minutes=25.0, batch=8, lr=1e-3,
                             resume_help="continue from <out>/refiner_state.pt")
    parser.add_argument("--samples", type=int, default=1400, help="training pairs")
    parser.add_argument("--validation", type=int, default=VALIDATION_SIZE,
                        help="held-out validation pairs")
    parser.add_argument("--pool", default=None,
                        help="pair cache folder (default: <out>/refiner_pool; the held-out pairs "
                             "go next to it)")
    parser.add_argument("--workers", type=int, default=0,
                        help="make the pairs in this many processes (one thread each)")
    parser.add_argument("--pool-chunk", type=int, default=50,
                        help="pairs per pool file (the pairs depend on it: keep it when "
                             "extending a pool)")
    parser.add_argument("--pool-minutes", type=float, default=None,
                        help="start no new training pairs after this long (the pool may end "
                             "smaller than --samples)")
    parser.add_argument("--photos-in-linear-light", action="store_true",
                        help="deconvolve the camera-pipeline pairs in linear light "
                             "(deblur(linear_light=True), as for photographs); a new --pool")
    parser.add_argument("--realistic-fraction", type=float, default=REALISTIC_FRACTION,
                        help="share of new training pairs made through the camera pipeline "
                             "(default 0.5; 1.0 extends a pool for --only-jpeg; the held-out "
                             "pairs keep 0.5)")
    parser.add_argument("--width", type=int, default=None,
                        help="channels (default 16; with --init, the given weights' width, and "
                             "a larger one widens them: same answers, new channels to train)")
    parser.add_argument("--loss", choices=("psnr", "mse"), default="psnr",
                        help="per-crop PSNR (default) or pooled squared error")
    inputs = parser.add_mutually_exclusive_group()
    inputs.add_argument("--only-jpeg", action="store_true",
                        help="train and validate on the pairs whose input is JPEG-compressed "
                             "only (for the refiner used on such inputs)")
    inputs.add_argument("--no-jpeg", action="store_true",
                        help="train and validate on the pairs whose input is not "
                             "JPEG-compressed only (the default refiner's inputs)")
    parser.add_argument("--init", default=None,
                        help="start from these refiner weights (fine-tuning) instead of the "
                             "identity")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    """Make the pairs (or extend them), then train; returns the final metadata."""
    args = parse_args(argv)
    out = start_run(args)
    pool_folder = Path(args.pool) if args.pool else out / "refiner_pool"
    state_path = out / "refiner_state.pt"
    log_path = out / "refiner_train_log.csv"
    sources = Sources(args.data, crop=PAIR, seed=args.seed)
    if args.workers < 0 or args.pool_chunk < 1:
        raise SystemExit("--workers must be at least 0 and --pool-chunk at least 1")
    if not 0.0 <= args.realistic_fraction <= 1.0:
        raise SystemExit("--realistic-fraction must be in [0, 1]")
    val_pool = extend_pool(pool_folder, "heldout", args.validation, sources, VALIDATION_SEED,
                           held_out=True, chunk=args.pool_chunk, workers=args.workers,
                           photos_in_linear_light=args.photos_in_linear_light)
    pool = extend_pool(pool_folder, "train", args.samples, sources, args.seed,
                       chunk=args.pool_chunk, workers=args.workers, minutes=args.pool_minutes,
                       photos_in_linear_light=args.photos_in_linear_light,
                       realistic_fraction=args.realistic_fraction)
    if args.only_jpeg or args.no_jpeg:  # each refiner learns from the inputs it will get
        pool, val_pool = jpeg_pairs(pool, args.only_jpeg), jpeg_pairs(val_pool, args.only_jpeg)
    if not len(pool) or not len(val_pool):
        raise SystemExit("no training or validation pairs were made (--samples, --validation, "
                         "--pool-minutes)")
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    start = load_refiner(args.init) if args.init else None
    init_width = start.config["width"] if start is not None else None
    model = initial_model(start, args.width, args.seed).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    rng = np.random.default_rng(args.seed)
    progress = Progress(best=0.0)  # the identity (gain 0) is the bar to beat
    if args.resume and state_path.exists():
        progress = Progress(*load_state(state_path, model, optimizer, rng, device))
    else:
        if log_path.exists():
            log_path.unlink()
        if args.init:  # fine-tuning: the initial weights are the bar to beat
            progress.best = psnr_gain(model, val_pool)
            print(f"initial weights: val gain {progress.best:+.3f} dB", flush=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"Refiner: {params} parameters; {len(pool)} training pairs, {len(val_pool)} held-out",
          flush=True)

    def metadata():
        return {
            "model": "Refiner", "config": model.config, "parameters": params,
            "training_data": {"folder": Path(args.data).name if args.data else None,
                              "pairs": len(pool), "pair_side": PAIR,
                              "chain": "deblur() defaults (4 Motion-Net passes, cepstral "
                                       "check, camera model, lengths "
                                       f"x{BLIND_LENGTH_SCALE:g} unconfirmed, auto TV, nodes)",
                              "fields": "strong_shake_field (40 %) or random_field('mixed'), "
                                        "max length 6-35 px, exact operator",
                              "realistic_fraction": args.realistic_fraction,
                              "crop": TRAIN_CROP,
                              "pool_chunk": args.pool_chunk,
                              "realistic_in_linear_light": args.photos_in_linear_light},
            "loss": args.loss, "init": Path(args.init).name if args.init else None,
            "init_width": init_width, "only_jpeg": args.only_jpeg,
            "no_jpeg": args.no_jpeg,
            "batch": args.batch, "lr": args.lr, "seed": args.seed, "steps": progress.step,
            "minutes": round(progress.elapsed / 60.0, 2),
            "validation": {"pairs": len(val_pool), "seed": VALIDATION_SEED,
                           "metric": "mean PSNR gain over the unrefined result (dB)",
                           "best": progress.best},
            **environment(args.threads, device),
        }

    run_budgeted(
        model, optimizer, progress, budget=args.minutes * 60.0, base_lr=args.lr, warmup=100,
        batch_loss=lambda: loss_fn(model, training_batch(pool, rng, args.batch).to(device),
                                   kind=args.loss),
        validate=lambda: psnr_gain(model, val_pool), improves=lambda new, best: new > best,
        save_best=lambda: save_refiner(model, out / "refiner.pt", metadata()),
        state_path=state_path, rng=rng,
        log_path=log_path, metric="val_psnr_gain", validate_every=args.validate_every,
        describe=lambda value: f"val gain {value:+.3f} dB (best {max(progress.best, value):+.3f})")
    return metadata()


if __name__ == "__main__":
    main()
