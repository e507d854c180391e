"""IRC-Net's learned shrinkage: saving, checking and loading it (``model="learned"``).

The learned parameters are the per-stage soft-threshold factors ``log_threshold`` (MAX_STAGES,
2) and dual steps ``update_rate`` (MAX_STAGES,) of :class:`~napari_motion_deblur.solvers.irc.
IRCNet`, trained by ``python -m napari_motion_deblur.training.ircnet``; the inverse filters stay
analytic. The package ships them as ``resources/ircnet_learned.pt`` (with a ``.json`` of how they
were trained) only when they measured better than the analytic network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..settings import MAX_STAGES
from .irc import IRCNet

WEIGHTS_NAME = "ircnet_learned.pt"
_SHAPES = {"log_threshold": (MAX_STAGES, 2), "update_rate": (MAX_STAGES,)}


def default_path() -> Path:
    return Path(__file__).parents[1] / "resources" / WEIGHTS_NAME


def save_learned(net: IRCNet, path, metadata: dict | None = None) -> None:
    """Write the learned parameters (atomically) and their metadata next to them (``.json``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({name: getattr(net, name).detach().cpu().clone() for name in _SHAPES}, tmp)
    os.replace(tmp, path)
    if metadata is not None:
        path.with_suffix(".json").write_text(json.dumps(metadata, indent=2))


def load_learned(path=None) -> dict[str, torch.Tensor]:
    """The learned parameters at ``path`` (default: the package's), checked: a missing or
    damaged file is a ``ValueError`` that says how to make one."""
    path = Path(path) if path is not None else default_path()
    if not path.is_file():
        raise ValueError(f"learned IRC-Net parameters not found at {path}; use "
                         "model='analytic', or train them with "
                         "`python -m napari_motion_deblur.training.ircnet`.")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # any unreadable file: one clear message
        raise ValueError(f"cannot read learned IRC-Net parameters {path}: {err}") from None
    if not isinstance(blob, dict) or set(blob) != set(_SHAPES):
        raise ValueError(f"{path} does not hold IRC-Net's learned parameters "
                         f"({', '.join(_SHAPES)}).")
    for name, shape in _SHAPES.items():
        value = blob[name]
        if (not isinstance(value, torch.Tensor) or tuple(value.shape) != shape
                or not bool(torch.isfinite(value).all())):
            raise ValueError(f"{path}: {name} must be a finite tensor of shape {shape}.")
    return {name: blob[name].float() for name in _SHAPES}


def apply_learned(net: IRCNet, parameters: dict[str, torch.Tensor]) -> IRCNet:
    """Copy learned parameters into ``net`` (in place); returns it."""
    with torch.no_grad():
        for name, value in parameters.items():
            getattr(net, name).copy_(value.to(getattr(net, name).device))
    return net
