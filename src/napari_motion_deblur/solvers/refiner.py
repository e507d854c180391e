"""A learned clean-up of blind deconvolution: removes the ringing, noise and JPEG blocks that an
imperfect motion estimate and a real camera leave in IRC-Net's result.

IRC-Net's TV prior is exact for the model ``y = K x + Gaussian noise`` with the true field. With
an estimated field (lengths off by ~15 %, angles off near object edges) and a real camera's
noise (Poisson, demosaicing, JPEG), its result rings along strong edges and amplifies
correlated noise. :class:`Refiner` is a small residual U-Net that sees the deconvolved image,
the blurry input and the deconvolution's length map, and predicts a correction of the
deconvolved image; it is trained on the blind chain's own results
(:mod:`napari_motion_deblur.training.refiner`), so it learns what that chain gets wrong. Colour
images are refined channel by channel (the network is trained on gray images).
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .._validation import REFINER_VIEWS, check_refiner_strength, check_refiner_views
from ..motion import MAX_LENGTH, MotionField

WEIGHTS_NAME = "refiner.pt"
#: The refiner of deconvolutions in linear light (``linear_light=True``: photographs), trained on
#: pairs whose camera-pipeline half was deconvolved so (``--photos-in-linear-light``).
PHOTO_WEIGHTS_NAME = "refiner_photo.pt"
#: The refiner of JPEG-compressed images (deconvolved as they are): the default one widened to 32
#: channels, trained on the same pairs, then on those with a JPEG input alone (``--only-jpeg``);
#: on clean images it would smooth what the deconvolution restored (blind_refiner_w32.md).
JPEG_WEIGHTS_NAME = "refiner_jpeg.pt"
METADATA_NAME = "refiner.json"
#: Blocks of a large image are refined separately with this halo: more than the network's
#: reach (43 px; tests/test_refiner.py measures it from the gradient). Both are multiples of
#: 4, so every block meets the two 2x downsamplings in the same phase as the whole image.
BLOCK = 512
HALO = 48
_MULTIPLE = 4  # two 2x downsamplings
_GATE_MAX = 1.5
_GATE_OFFSET = math.log(2.0)  # sigmoid(log 2) = 2/3: the gate starts at 1

#: Views :func:`refine` can average: the image as it is, turned and mirrored (the dihedral
#: group, in this order: a count of 2 adds the half turn, 4 the quarter turns, 8 the mirrors).
VIEWS = REFINER_VIEWS
#: How the package's weights are applied (views averaged, strength of the correction), chosen
#: on held-out images within ``deblur()``'s cost target (``benchmarks/refiner_views.py``): 8
#: views gain no more than 4; the JPEG refiner costs three times as much per view. Half
#: strength suits Gaussian noise but costs a camera's lossless output more than it gains.
APPLICATION = {WEIGHTS_NAME: (4, 1.0), JPEG_WEIGHTS_NAME: (2, 1.0), PHOTO_WEIGHTS_NAME: (1, 1.0)}

__all__ = ["APPLICATION", "VIEWS", "Refiner", "get_refiner", "load_refiner", "refine",
           "save_refiner", "use_refiner", "widened"]


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation),
                         nn.ReLU(inplace=True))


class Refiner(nn.Module):
    """U-Net (three scales) that weighs and corrects a deconvolution, pixel by pixel.

    ``out = blurry + g * (deconvolved - blurry) + r``: the gate ``g`` in (0, 1.5) says how much
    of the restored detail to keep (less where it rings or amplifies noise, a little more
    where the estimate was too short), ``r`` is a free correction. Both come from the
    deconvolved image, the blurry one and the length map; the network starts as the
    identity (``g = 1``, ``r = 0``).

    Parameters
    ----------
    width : int
        Channels at full resolution (x2, x4 at the coarser scales).
    """

    def __init__(self, width: int = 16):
        super().__init__()
        w = int(width)
        self.config = {"width": w}
        # how refine() applies these weights unless told otherwise (not part of the weights)
        self.views, self.strength = 1, 1.0
        self.enc1 = nn.Sequential(_conv(3, w), _conv(w, w))
        self.enc2 = nn.Sequential(_conv(w, 2 * w, 2), _conv(2 * w, 2 * w))
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w, 2), _conv(4 * w, 4 * w, dilation=2),
                                  _conv(4 * w, 4 * w, dilation=4), _conv(4 * w, 4 * w))
        self.up3 = nn.ConvTranspose2d(4 * w, 2 * w, 2, 2)
        self.dec2 = nn.Sequential(_conv(4 * w, 2 * w), _conv(2 * w, 2 * w))
        self.up2 = nn.ConvTranspose2d(2 * w, w, 2, 2)
        self.dec1 = nn.Sequential(_conv(2 * w, w), nn.Conv2d(w, 2, 3, padding=1))
        nn.init.zeros_(self.dec1[-1].weight)  # starts as the identity on the deconvolved image
        nn.init.zeros_(self.dec1[-1].bias)

    def forward(self, deconvolved: torch.Tensor, blurry: torch.Tensor,
                length: torch.Tensor) -> torch.Tensor:
        """Refine a batch of planes, each (B, H, W) (``length`` in pixels); H, W multiples of 4.
        """
        x = torch.stack([deconvolved - 0.5, blurry - 0.5, length / MAX_LENGTH], dim=1)
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([self.up3(e3), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up2(d2), e1], dim=1))
        gate = _GATE_MAX * torch.sigmoid(d1[:, 0] + _GATE_OFFSET)
        return blurry + gate * (deconvolved - blurry) + d1[:, 1]


#: Inputs that are two concatenated feature maps (upsampled, skip), each of its own width.
_CONCATENATED = ("dec2.0.0.weight", "dec1.0.0.weight")


def _old_channels(dim_old: int, dim_new: int, concatenated: bool = False) -> torch.Tensor:
    """Where a narrower refiner's channels sit along one dimension of a wider one's tensor."""
    if concatenated:
        half_old, half_new = dim_old // 2, dim_new // 2
        return torch.cat([torch.arange(half_old), half_new + torch.arange(half_old)])
    return torch.arange(dim_old)


def widened(model: Refiner, width: int, seed: int = 0) -> Refiner:
    """``model`` with ``width`` channels that computes exactly what ``model`` computes.

    The old channels keep their weights; the new ones get fresh random weights from everything
    below them, and zero weights into every old channel and the output, so they change nothing
    until training moves those (net2net-style widening: a wider refiner trained from a narrower
    one's answer rather than from the identity).
    """
    old_width = model.config["width"]
    if width < old_width:
        raise ValueError(f"cannot narrow a refiner of width {old_width} to {width}")
    with torch.random.fork_rng(devices=[]):  # the caller's random state stays as it was
        torch.manual_seed(seed)
        wide = Refiner(width)
    state = wide.state_dict()
    for name, old in model.state_dict().items():
        new = state[name]
        if old.ndim == 1:  # a bias
            new[: len(old)] = old
            continue
        transposed = isinstance(wide.get_submodule(name.rsplit(".", 1)[0]), nn.ConvTranspose2d)
        out_dim, in_dim = (1, 0) if transposed else (0, 1)
        rows = _old_channels(old.shape[out_dim], new.shape[out_dim])
        cols = _old_channels(old.shape[in_dim], new.shape[in_dim], name in _CONCATENATED)
        if transposed:
            new[:, rows] = 0.0
            new[cols[:, None], rows[None, :]] = old
        else:
            new[rows] = 0.0
            new[rows[:, None], cols[None, :]] = old
    wide.load_state_dict(state)
    return wide.to(next(model.parameters()).device)


def save_refiner(model: Refiner, path, metadata: dict | None = None) -> None:
    """Save weights and config (``.pt``) with metadata next to them (``.json``)."""
    path = Path(path)
    torch.save({"config": model.config, "state": model.state_dict()}, path)
    if metadata is not None:
        path.with_suffix(".json").write_text(json.dumps(metadata, indent=2))


def _weights_name(photo: bool, compressed: bool) -> str:
    return PHOTO_WEIGHTS_NAME if photo else JPEG_WEIGHTS_NAME if compressed else WEIGHTS_NAME


def load_refiner(path=None, device="cpu", photo: bool = False,
                 compressed: bool = False) -> Refiner:
    """Load refiner weights (default: the package's; ``photo``: those for deconvolutions in
    linear light; else ``compressed``: those for JPEG-compressed images)."""
    default = Path(__file__).parents[1] / "resources" / _weights_name(photo, compressed)
    path = Path(path) if path is not None else default
    if not path.is_file():
        raise ValueError(f"refiner weights not found at {path}; retrain them with "
                         "`python -m napari_motion_deblur.training.refiner`.")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    model = Refiner(**blob["config"])
    model.load_state_dict(blob["state"])
    if path == default:
        model.views, model.strength = APPLICATION[default.name]
    # channels-last convolutions: the same answers (to float rounding), ~1.5x faster on a CPU
    return model.to(device).to(memory_format=torch.channels_last).eval()


_CACHE: dict[str, Refiner] = {}
_CACHE_LOCK = threading.Lock()  # the GUI's workers may ask from several threads at once


def _cache_key(device, photo: bool, compressed: bool) -> str:
    return f"{torch.device(device)}:{_weights_name(photo, compressed)}"


def get_refiner(device: torch.device, photo: bool = False, compressed: bool = False) -> Refiner:
    """The package's refiner on ``device``, loaded once per device (``photo``: the one for
    deconvolutions in linear light; else ``compressed``: the one for JPEG-compressed images)."""
    key = _cache_key(device, photo, compressed)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_refiner(device=device, photo=photo, compressed=compressed)
        return _CACHE[key]


def _view(a: np.ndarray, view: int, inverse: bool = False) -> np.ndarray:
    """``a`` (..., H, W) turned by ``view % 4`` quarter turns and, from view 4 on, mirrored
    (``inverse``: undo it)."""
    turns, mirror = (0, 2, 1, 3)[view % 4], view >= 4
    if not inverse:
        a = np.rot90(a, turns, axes=(-2, -1))
        return np.ascontiguousarray(a[..., ::-1] if mirror else a)
    a = a[..., ::-1] if mirror else a
    return np.ascontiguousarray(np.rot90(a, -turns, axes=(-2, -1)))


def use_refiner(path, device="cpu", photo: bool = False, compressed: bool = False) -> Refiner:
    """Make the weights in ``path`` the shared refiner for ``device``: what ``deblur()`` and
    ``deconvolve(..., refine=True)`` use from then on in this process (your own training run,
    or to compare weights); ``photo``: the one used with ``linear_light=True``;
    ``compressed``: the one used on JPEG-compressed images."""
    device = torch.device(device)
    model = load_refiner(path, device=device)
    with _CACHE_LOCK:
        _CACHE[_cache_key(device, photo, compressed)] = model
    return model


@torch.no_grad()
def refine(deconvolved: np.ndarray, blurry: np.ndarray, field: MotionField,
           device: torch.device | str = "cpu", model: Refiner | None = None,
           views: int | None = None, strength: float | None = None) -> np.ndarray:
    """Refine a deconvolved image (H, W) or (H, W, C) given its blurry input and the field used.

    Large images are refined in blocks of :data:`BLOCK` pixels with a :data:`HALO` of context,
    which the network's reach does not exceed, so the blocks join without seams.

    Parameters
    ----------
    deconvolved, blurry : numpy.ndarray
        The deconvolution and its input, the same shape.
    field : MotionField
        The field the deconvolution used (the refiner reads its lengths).
    device : torch.device or str
        Where the network runs.
    model : Refiner, optional
        The weights (default: the package's default refiner).
    views : int, optional
        One of :data:`VIEWS`: the corrections of the image turned and mirrored, each undone,
        are averaged (a test-time ensemble: a little better, ``views`` times the cost).
        Default: the model's own (:data:`APPLICATION` for the package's weights, else 1).
    strength : float, optional
        In [0, 1]: the share of the refiner's correction applied (0: ``deconvolved`` as it
        is). Default: the model's own.

    Returns
    -------
    numpy.ndarray
        float32 in [0, 1], the shape of ``deconvolved``.
    """
    device = torch.device(device)
    model = model if model is not None else get_refiner(device)
    views = check_refiner_views(model.views if views is None else views)
    strength = check_refiner_strength(model.strength if strength is None else strength)
    x = np.asarray(deconvolved, np.float32)
    y = np.asarray(blurry, np.float32)
    if x.shape != y.shape or x.shape[:2] != field.shape:
        raise ValueError(f"refine: deconvolved {x.shape}, blurry {y.shape} and field "
                         f"{field.shape} must match")
    planes_x = x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)
    planes_y = y[None] if y.ndim == 2 else np.moveaxis(y, -1, 0)
    length = np.where(field.length > 1.0, field.length, 0.0).astype(np.float32)
    h, w = length.shape
    # Padded once, at the bottom and right, to whole 2x2 downsamplings: every view then meets
    # them in the same phase relative to the image's top-left corner, as blocks and chunks do.
    padded = [_pad_whole(a, (-h) % _MULTIPLE, (-w) % _MULTIPLE)
              for a in (planes_x, planes_y, length)]
    total = np.zeros_like(padded[0])
    for view in range(views):  # the refiner reads lengths only: they turn with the image
        refined = _refine_planes(model, *(_view(a, view) for a in padded), device)
        total += _view(refined, view, inverse=True)
    mean = total[:, :h, :w] / views  # one view: the network's answer
    out = np.clip(mean if strength == 1.0 else planes_x + strength * (mean - planes_x), 0.0, 1.0)
    return out[0] if x.ndim == 2 else np.moveaxis(out, 0, -1)


def _pad_whole(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``a`` (..., H, W) padded at the bottom and right by ``rows`` and ``cols`` (mirrored, or
    repeated where the image is smaller than that)."""
    if not rows and not cols:
        return a
    h, w = a.shape[-2:]
    mode = "reflect" if rows < h and cols < w else "edge"
    return np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, rows), (0, cols)], mode=mode)


def _refine_planes(model: Refiner, planes_x: np.ndarray, planes_y: np.ndarray,
                   length: np.ndarray, device: torch.device) -> np.ndarray:
    """The network on (C, H, W) planes whose sides are multiples of 4, block by block (the
    blocks' sides are too: :data:`BLOCK` and :data:`HALO` are)."""
    h, w = length.shape
    out = np.empty_like(planes_x)
    for r0 in range(0, h, BLOCK):
        for c0 in range(0, w, BLOCK):
            r1, c1 = min(r0 + BLOCK, h), min(c0 + BLOCK, w)
            a, b = max(r0 - HALO, 0), min(r1 + HALO, h)
            c, d = max(c0 - HALO, 0), min(c1 + HALO, w)
            pieces = [torch.from_numpy(np.ascontiguousarray(p[:, a:b, c:d])).to(device)
                      for p in (planes_x, planes_y)]
            block = torch.from_numpy(np.ascontiguousarray(length[a:b, c:d])).to(device)
            pieces.append(block.expand_as(pieces[0]))
            result = model(*pieces)  # whole 2x2 downsamplings: refine() padded the image
            out[:, r0:r1, c0:c1] = result[:, r0 - a : r1 - a, c0 - c : c1 - c].cpu().numpy()
    return out
