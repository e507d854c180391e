"""What the training scripts share: their common options and run folder, the time-budgeted
loop and its schedule, one optimizer step, the resumable state file, the loss-curve CSV and the
run's environment for the metadata."""

from __future__ import annotations

import argparse
import csv
import datetime
import math
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

#: The training images' folder when ``--data`` is not given.
DEFAULT_DATA = os.environ.get("NAPARI_MOTION_DEBLUR_DATA")


def training_parser(description: str, *, data_help: str, out: str, minutes: float,
                    batch: int, lr: float, threads: int = 2,
                    resume_help: str = "continue the run in --out") -> argparse.ArgumentParser:
    """A parser with the options every training script has (--data, --minutes, --threads,
    --device, --out, --resume, --seed, --batch, --lr, --validate-every) and these defaults."""
    parser = argparse.ArgumentParser(description=description)
    default = DEFAULT_DATA if DEFAULT_DATA and Path(DEFAULT_DATA).is_dir() else None
    parser.add_argument("--data", default=default,
                        help=f"{data_help} (default: $NAPARI_MOTION_DEBLUR_DATA)")
    parser.add_argument("--minutes", type=float, default=minutes, help="total training time")
    parser.add_argument("--threads", type=int, default=threads, help="torch CPU threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=out,
                        help="output folder (copy the weights to resources/ to ship them)")
    parser.add_argument("--resume", action="store_true", help=resume_help)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--validate-every", type=float, default=60.0, help="seconds")
    return parser


def start_run(args: argparse.Namespace) -> Path:
    """Set the torch threads and make the output folder; returns it."""
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def learning_rate(base: float, step: int, warmup: int, fraction: float) -> float:
    """Linear warm-up over ``warmup`` steps, then a cosine over the time budget's ``fraction``."""
    return base * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * fraction))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                   loss: torch.Tensor) -> float:
    """Backpropagate ``loss``, clip the gradient norm at 1 and step; returns the loss value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return loss.item()


def save_state(path: Path, model, optimizer, rng: np.random.Generator, step: int,
               elapsed: float, best: float) -> None:
    """Everything a resumed run needs, written atomically."""
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "step": step, "elapsed": elapsed, "best": best,
                "rng": rng.bit_generator.state}, tmp)
    os.replace(tmp, path)


def load_state(path: Path, model, optimizer, rng: np.random.Generator,
               device) -> tuple[int, float, float]:
    """Restore what :func:`save_state` wrote; returns ``(step, elapsed seconds, best)``."""
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]
    return state["step"], state["elapsed"], state["best"]


def append_log(path: Path, row: dict) -> None:
    """Append one validation row to the loss-curve CSV (its header when the file is new)."""
    new = not path.exists()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def environment(threads: int, device: torch.device) -> dict:
    """Date, hardware and torch version, for a run's metadata."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hardware": f"{threads}-thread CPU ({platform.machine()})" if device.type == "cpu"
        else str(device),
        "torch": torch.__version__,
    }


@dataclass
class Progress:
    """Where a time-budgeted run stands: optimizer steps, seconds trained, best validation."""

    step: int = 0
    elapsed: float = 0.0
    best: float = math.inf


def run_budgeted(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 progress: Progress, *, budget: float, base_lr: float, warmup: int,
                 batch_loss: Callable[[], torch.Tensor], validate: Callable[[], float],
                 improves: Callable[[float, float], bool], save_best: Callable[[], None],
                 state_path: Path, rng: np.random.Generator, log_path: Path, metric: str,
                 validate_every: float, describe: Callable[[float], str]) -> Progress:
    """Train until ``budget`` seconds have been spent (counting a resumed run's), on the
    warm-up + cosine schedule of :func:`learning_rate`.

    Every ``validate_every`` seconds and at the end: validate, append a row to the loss-curve
    CSV (``metric`` names the validation column), print ``describe(value)``, call ``save_best``
    when ``improves(value, best)`` (``progress.best`` is updated first), then write the
    resumable state to ``state_path`` (:func:`save_state`, with ``rng``, the generator the
    batches are drawn from). ``progress`` is updated in place and returned.
    """
    model.train()
    start, last_val, running = time.time() - progress.elapsed, time.time(), []
    while progress.elapsed < budget:
        lr = learning_rate(base_lr, progress.step, warmup, progress.elapsed / budget)
        set_learning_rate(optimizer, lr)
        running.append(optimizer_step(model, optimizer, batch_loss()))
        progress.step += 1
        progress.elapsed = time.time() - start
        if time.time() - last_val >= validate_every or progress.elapsed >= budget:
            value = validate()
            row = {"step": progress.step, "minutes": round(progress.elapsed / 60, 3),
                   "lr": lr, "train_loss": float(np.mean(running)), metric: value}
            running, last_val = [], time.time()
            append_log(log_path, row)
            print(f"step {progress.step} {progress.elapsed / 60:.1f} min loss "
                  f"{row['train_loss']:.4g} {describe(value)}", flush=True)
            if improves(value, progress.best):
                progress.best = value
                save_best()
            save_state(state_path, model, optimizer, rng, progress.step, progress.elapsed,
                       progress.best)
    return progress
