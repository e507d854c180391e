"""What the training scripts share: the time-budgeted schedule, one optimizer step, the
resumable state file, the loss-curve CSV and the run's environment for the metadata."""

from __future__ import annotations

import csv
import datetime
import math
import os
import platform
from pathlib import Path

import numpy as np
import torch


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
