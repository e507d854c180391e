"""Motion-Net: a small fully convolutional regressor of per-pixel linear motion (paper, Sec. 3.1).

DeepLab-style: two strided convolutions down to 1/4 resolution, dilated residual blocks, an
atrous spatial pyramid (ASPP) and bilinear upsampling back to full resolution. Its input is the
image luminance; its output at every pixel is the sign-free doubled-angle direction
``(cos 2a, sin 2a)``, continuous across the 0/180 degree wrap and unaffected by the streak's
sign, and the length ``l`` (in units of :data:`OUTPUT_SCALE` px), regressed or, with
``length_bins``, read from a distribution over length bins (:mod:`.length_bins`). A fixed front
end of oriented difference energies feeds the learned layers the classic blur cue directly.
Trained weights ship in ``resources/motionnet.pt`` (see
``python -m napari_motion_deblur.training.motionnet``).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import json
import os
import threading

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .._generators import run_to_end
from .._validation import luminance
from ..motion import MAX_LENGTH, MotionField, undoubled_angle
from ..settings import MAX_PASSES, check_passes
from . import length_bins as bins
from .encoding import OUTPUT_SCALE, from_field, streak_error, to_field
from .front_end import difference_filters, gaussian_window, local_contrast, oriented_energy

__all__ = ["MAX_PASSES", "MotionNet", "check_passes", "iter_predict", "predict", "to_field",
           "from_field", "streak_error", "luminance", "load_weights", "save_weights",
           "get_motionnet", "use_weights", "with_length_bins", "extended"]

#: Input sides are padded to a multiple of this (the total downsampling).
STRIDE = 4
WEIGHTS_NAME = "motionnet.pt"
METADATA_NAME = "motionnet.json"
RETRAIN_HINT = ("Retrain them with `python -m napari_motion_deblur.training.motionnet --minutes 60 "
                "--out resources/` (from the repository root) or reinstall the package.")

#: Side and overlap (px) of the tiles :func:`predict` runs the network on.
TILE = 128
TILE_OVERLAP = 32
#: Gaussian sigma (px) of the local contrast normalization of the input.
LCN_SIGMA = 8.0

_cache: dict[str, MotionNet] = {}
_cache_lock = threading.Lock()


def _block(cin, cout, stride=1, dilation=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.InstanceNorm2d(cout, affine=True),
        nn.ReLU(inplace=True),
    )


class _Residual(nn.Module):
    def __init__(self, channels, dilation):
        super().__init__()
        self.conv = nn.Sequential(_block(channels, channels, 1, dilation),
                                  nn.Conv2d(channels, channels, 3, padding=dilation,
                                            dilation=dilation, bias=False),
                                  nn.InstanceNorm2d(channels, affine=True))

    def forward(self, x):
        return F.relu(x + self.conv(x))


class MotionNet(nn.Module):
    """The Motion-Net regressor.

    Parameters
    ----------
    width : int
        Channels at 1/4 resolution (the first stages use ``width // 4`` and ``width // 2``).
    dilations : tuple of int
        Dilation of each residual block at 1/4 resolution.
    aspp : tuple of int
        Dilations of the ASPP branches (a 1x1 branch is always added).
    normalize : {"local", "none"}
        Local contrast normalization of the input (Gaussian sigma :data:`LCN_SIGMA`).
    orientations : int
        Orientations of the fixed oriented-difference front end (evenly over 180 degrees).
    shifts : tuple of int
        Pixel distances of those differences (one scale each).
    length_bins : int
        0: the length is regressed (one channel). Otherwise also classified into this many bins
        of :data:`~.length_bins.BIN_WIDTH` px, and the length the network answers is the
        distribution's ``length_quantile`` (see :mod:`.length_bins`).
    length_quantile : float
        In (0, 1); used with ``length_bins``.
    coarse_shifts : tuple of int
        Longer difference distances, computed at half resolution (:mod:`.front_end`).
    """

    def __init__(self, width: int = 64, dilations=(2, 4, 8), aspp=(3, 6, 12),
                 normalize: str = "local", orientations: int = 12, shifts=(1, 2, 4, 8, 16),
                 length_bins: int = 0, length_quantile: float = 0.5, coarse_shifts=()):
        super().__init__()
        if normalize not in ("local", "none"):
            raise ValueError(f"normalize must be 'local' or 'none', got {normalize!r}")
        if length_bins < 0 or not 0.0 < length_quantile < 1.0:
            raise ValueError("length_bins must be >= 0 and length_quantile in (0, 1), got "
                             f"{length_bins} and {length_quantile}")
        self.config = {"width": width, "dilations": list(dilations), "aspp": list(aspp),
                       "normalize": normalize, "orientations": orientations,
                       "shifts": list(shifts)}
        if length_bins:  # older weights' configs have no such keys
            self.config.update(length_bins=int(length_bins),
                               length_quantile=float(length_quantile))
        if coarse_shifts:
            self.config["coarse_shifts"] = [int(s) for s in coarse_shifts]
        self.register_buffer("_window", gaussian_window(LCN_SIGMA), persistent=False)
        self.register_buffer("_differences", difference_filters(orientations, shifts),
                             persistent=False)
        self.register_buffer("_coarse_differences", difference_filters(
            orientations, [s / 2 for s in coarse_shifts]) if coarse_shifts else torch.zeros(0),
            persistent=False)
        n_energy = (orientations + 1) * (len(shifts) + len(coarse_shifts))
        w4, w2 = width // 4, width // 2
        self.stem = nn.Sequential(_block(1, w4), _block(w4, w2, 2), _block(w2, w2),
                                  _block(w2, width, 2))
        self.merge = _block(width + n_energy, width)
        self.body = nn.Sequential(*[_Residual(width, d) for d in dilations])
        branch = width // 2
        self.aspp = nn.ModuleList([_block(width, branch, 1, d) for d in aspp])
        self.aspp.insert(0, nn.Sequential(nn.Conv2d(width, branch, 1, bias=False),
                                          nn.InstanceNorm2d(branch, affine=True),
                                          nn.ReLU(inplace=True)))
        self.fuse = _block(branch * len(self.aspp), width)
        self.head = nn.Conv2d(width, 3 + length_bins, 1)

    def forward(self, luminance: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) luminance in [0, 1] -> (B, 3, H, W) ``(cos 2a, sin 2a, l / scale)``.

        Any H, W: the input is padded (reflect) to a multiple of :data:`STRIDE` and the output is
        cropped back. With length bins, ``l`` is their quantile (:func:`.length_bins.decode`).
        """
        out = self.raw(luminance)
        if not self.config.get("length_bins"):
            return out
        length = bins.decode(out[:, 3:], self.config["length_quantile"])
        return torch.cat([out[:, :2], length[:, None] / OUTPUT_SCALE], 1)

    def set_length_quantile(self, quantile: float) -> None:
        """Read the length bins at another quantile from now on (weights with bins only)."""
        if not self.config.get("length_bins"):
            raise ValueError("these Motion-Net weights regress the length: no quantile to set")
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"the length quantile must be in (0, 1), got {quantile}")
        self.config["length_quantile"] = float(quantile)

    def raw(self, luminance: torch.Tensor) -> torch.Tensor:
        """The head's output at full resolution: :meth:`forward`'s three channels as
        regressed, then the length bins' logits, if any (what training compares to targets)."""
        h, w = luminance.shape[-2:]
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        x = luminance - 0.5
        if ph or pw:
            mode = "reflect" if min(h, w) > max(ph, pw) else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        if self.config["normalize"] == "local":
            x = local_contrast(x, self._window)
        x = self.merge(torch.cat([self.stem(x), self._energies(x)], 1))
        x = self.body(x)
        x = self.fuse(torch.cat([branch(x) for branch in self.aspp], 1))
        x = self.head(x)
        x = F.interpolate(x, scale_factor=STRIDE, mode="bilinear", align_corners=False)
        return x[..., :h, :w]

    def _energies(self, x):
        energy = oriented_energy(x, self._differences, self.config["shifts"], STRIDE)
        coarse = self.config.get("coarse_shifts")
        if not coarse:
            return energy
        # Long shifts at half resolution: the same cue for long streaks at a quarter of the
        # cost of full-resolution filters that wide.
        half = [s / 2 for s in coarse]
        return torch.cat([energy, oriented_energy(F.avg_pool2d(x, 2), self._coarse_differences,
                                                  half, STRIDE // 2)], 1)

    def receptive_field(self) -> int:
        """Receptive field (pixels, one side) of an output pixel, before upsampling.

        The learned path bounds it: stem (13 px at stride 4), the merge convolution, the
        residual blocks (two dilated 3x3 each), the widest ASPP branch and the fusion.
        """
        rf = 13 + 2 * STRIDE  # stem, then the 3x3 merge at stride 4
        rf += sum(2 * 2 * d * STRIDE for d in self.config["dilations"])
        rf += 2 * max(self.config["aspp"]) * STRIDE
        return rf + 2 * STRIDE


def extended(model: MotionNet, **changes) -> MotionNet:
    """A copy of ``model`` with outputs or inputs added, for fine-tuning: ``length_bins`` (and
    ``length_quantile``) add a length classifier, ``coarse_shifts`` more front-end distances.

    Every trained layer is kept; the new head rows and the merge layer's new input channels
    start at zero, so the copy answers exactly as ``model`` does (the bins: a uniform
    distribution) until it is trained.
    """
    unknown = set(changes) - {"length_bins", "length_quantile", "coarse_shifts"}
    if unknown:
        raise ValueError(f"cannot extend Motion-Net by {sorted(unknown)}")
    new = MotionNet(**{**model.config, **changes}).to(next(model.parameters()).device)
    old, target = model.state_dict(), new.state_dict()
    with torch.no_grad():
        for name, value in old.items():
            slot = target[name]
            if slot.shape == value.shape:
                slot.copy_(value)
            elif any(n < o for n, o in zip(slot.shape, value.shape)):
                raise ValueError(f"extended() only adds: {name} would shrink from "
                                 f"{tuple(value.shape)} to {tuple(slot.shape)}")
            else:  # a grown head (output rows) or merge layer (input channels)
                slot.zero_()
                slot[tuple(slice(0, n) for n in value.shape)] = value
    new.load_state_dict(target)
    return new


def with_length_bins(model: MotionNet, count: int | None = None,
                     quantile: float = 0.5) -> MotionNet:
    """:func:`extended` by a length classifier of ``count`` bins (default: bins up to
    :data:`~napari_motion_deblur.motion.MAX_LENGTH`) read at ``quantile``."""
    count = bins.bin_count() if count is None else count
    return extended(model, length_bins=count, length_quantile=quantile)


def save_weights(model: MotionNet, path, metadata: dict | None = None) -> None:
    """Save ``{"config", "state_dict"}`` (float16 tensors) to ``path`` and metadata next to it."""
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.cpu()
             for k, v in model.state_dict().items()}
    tmp = f"{path}.tmp"
    torch.save({"config": model.config, "state_dict": state}, tmp)
    os.replace(tmp, path)  # atomic: a reader never sees a half-written file
    if metadata is not None:
        meta_path = str(path)[: -len(".pt")] + ".json" if str(path).endswith(".pt") else \
            str(path) + ".json"
        with open(meta_path, "w") as fh:
            json.dump(metadata, fh, indent=2)


def load_weights(path=None, device="cpu") -> MotionNet:
    """Load a trained Motion-Net (default: the packaged ``resources/motionnet.pt``).

    Raises
    ------
    RuntimeError
        If the weights are missing or unreadable; the message says how to retrain them.
    """
    if path is None:
        path = importlib.resources.files("napari_motion_deblur") / "resources" / WEIGHTS_NAME
    try:
        local_path = (contextlib.nullcontext(path) if isinstance(path, (str, os.PathLike))
                      else importlib.resources.as_file(path))
        with local_path as local:
            checkpoint = torch.load(local, map_location="cpu", weights_only=True)
        model = MotionNet(**checkpoint["config"])
        state = {k: v.float() if v.is_floating_point() else v
                 for k, v in checkpoint["state_dict"].items()}
        model.load_state_dict(state)
    except FileNotFoundError as err:
        raise RuntimeError(f"Motion-Net weights not found at {path}. {RETRAIN_HINT}") from err
    except Exception as err:
        raise RuntimeError(f"Motion-Net weights at {path} are unreadable or do not match the "
                           f"network ({type(err).__name__}: {err}). {RETRAIN_HINT}") from err
    return model.to(device).eval()


def get_motionnet(device: torch.device) -> MotionNet:
    """The shared, packaged Motion-Net for a device (loaded once)."""
    with _cache_lock:
        key = str(device)
        if key not in _cache:
            _cache[key] = load_weights(device=device)
        return _cache[key]


def use_weights(path, device="cpu") -> MotionNet:
    """Make the weights in ``path`` the shared Motion-Net for ``device``: what
    :func:`~napari_motion_deblur.estimate_motion` and :func:`~napari_motion_deblur.deblur` use
    from then on in this process (e.g. your own fine-tuned weights, or to compare weights).
    ``path=None`` goes back to the packaged weights."""
    device = torch.device(device)
    model = load_weights(None if path is None else str(path), device=device)
    with _cache_lock:
        _cache[str(device)] = model
    return model


def _tile_starts(size: int, tile: int, step: int) -> list[int]:
    starts = list(range(0, size - tile + 1, step))
    if starts[-1] != size - tile:
        starts.append(size - tile)
    return starts


@torch.no_grad()
def _predict_tiles(model: MotionNet, lum: np.ndarray, device, tile: int, overlap: int,
                   batch: int) -> np.ndarray:
    """The raw network output (3, H, W) of a luminance image, tile by tile."""
    h, w = lum.shape
    if h <= tile or w <= tile:
        x = torch.from_numpy(np.ascontiguousarray(lum))[None, None].to(device)
        return model(x)[0].float().cpu().numpy()
    step = tile - overlap
    rows, cols = _tile_starts(h, tile, step), _tile_starts(w, tile, step)
    corners = [(r, c) for r in rows for c in cols]
    ramp = np.hanning(tile + 2)[1:-1].astype(np.float32)
    window = np.outer(ramp, ramp)
    total = np.zeros((3, h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for start in range(0, len(corners), batch):
        chunk = corners[start : start + batch]
        x = torch.from_numpy(np.stack([lum[r : r + tile, c : c + tile] for r, c in chunk]))
        out = model(x[:, None].to(device)).float().cpu().numpy()
        for (r, c), o in zip(chunk, out):
            total[:, r : r + tile, c : c + tile] += o * window
            weight[r : r + tile, c : c + tile] += window
    return total / weight


def predict(model: MotionNet, lum: np.ndarray, device="cpu", passes: int = 1,
            tile: int = TILE, overlap: int = TILE_OVERLAP, batch: int = 16) -> MotionField:
    """Run ``model`` on a (H, W) luminance array in [0, 1] and return the field.

    The image is processed in overlapping ``tile``-pixel tiles blended with a smooth window:
    instance normalization then sees statistics of regions the size of the training crops,
    which measured about half the error of one whole-image pass on large images.

    Parameters
    ----------
    model : MotionNet
    lum : numpy.ndarray, (H, W)
    device : str or torch.device
    passes : int
        Test-time augmentation: the network runs on this many of the image's quarter turns and
        mirrors (1 to 8; 4 = the quarter turns), each answer is turned back, and the streak
        vectors are averaged in doubled-angle space. Where the passes disagree on the direction
        the averaged length shrinks, which is the cautious answer for deblurring.
    tile, overlap, batch : int
        Tiling of large images (pixels) and tiles per forward pass.
    """
    return run_to_end(iter_predict(model, lum, device, passes, tile, overlap, batch))


def iter_predict(model: MotionNet, lum: np.ndarray, device="cpu", passes: int = 1,
                 tile: int = TILE, overlap: int = TILE_OVERLAP, batch: int = 16):
    """:func:`predict` pass by pass: yields the number of passes done, returns the field.

    Closing the generator between passes stops the work (a GUI's Cancel).
    """
    check_passes(passes)
    lum = np.ascontiguousarray(lum, dtype=np.float32)
    total = np.zeros((2, *lum.shape), np.float64)
    for t in range(passes):
        turns, mirror = t % 4, t >= 4
        view = np.rot90(lum[:, ::-1] if mirror else lum, turns)
        out = np.rot90(_predict_tiles(model, view, device, tile, overlap, batch), -turns,
                       axes=(1, 2))
        if mirror:
            out = out[:, :, ::-1]
        # A quarter turn adds 90 degrees to every angle (180 to the doubled angle: a sign
        # flip of both components); a mirror maps a -> 180 - a (negates the sine).
        sign = (-1.0) ** turns
        direction = out[:2] * np.array([sign, -sign if mirror else sign])[:, None, None]
        direction /= np.maximum(np.hypot(direction[0], direction[1]), 1e-6)
        total += np.clip(out[2], 0.0, None) * direction
        yield t + 1
    total /= passes
    length = np.clip(np.hypot(total[0], total[1]) * OUTPUT_SCALE, 0.0, MAX_LENGTH)
    return MotionField(length, undoubled_angle(total[0], total[1]))
