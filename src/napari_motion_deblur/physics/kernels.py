"""Linear motion kernels, the paper's bank of 511 of them, and per-pixel bank lookup (Eq. 17).

A kernel of length ``l`` is the path of a point moving ``l - 1`` pixels along the streak,
rendered with bilinear weights: its extent is ``l`` pixels, it sums to 1, it varies smoothly with
``l`` and the angle, and ``l <= 1`` gives the identity.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from ..motion import MAX_LENGTH

#: Bank lengths l = 1, 3, ..., 35 and angles 0, 6, ..., 174 degrees (paper, Section 2.2).
BANK_LENGTHS = tuple(range(1, 36, 2))
BANK_ANGLES = tuple(range(0, 180, 6))
_LENGTH_STEP = 2.0
_ANGLE_STEP = 6.0
#: Kernel half-size that holds every bank kernel (a 35-px streak spans +-17 px).
BANK_RADIUS = 17
_SAMPLES_PER_PIXEL = 8


def motion_kernels(lengths, angles, radius: int | None = None) -> torch.Tensor:
    """Rasterize linear motion kernels.

    Parameters
    ----------
    lengths, angles : array_like, shape (K,)
        Streak extents in pixels and angles in degrees (the project's convention).
    radius : int, optional
        Half-size of the square output; default: just large enough for the longest streak.

    Returns
    -------
    torch.Tensor, shape (K, 2 * radius + 1, 2 * radius + 1), float32
        Kernels centred on the middle pixel, each summing to 1.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.float64).reshape(-1)
    angles = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
    if lengths.shape != angles.shape:
        raise ValueError("motion_kernels: lengths and angles must have the same length.")
    if not (torch.isfinite(lengths).all() and torch.isfinite(angles).all()):
        raise ValueError("motion_kernels: lengths and angles must be finite.")
    if (lengths < 0).any():
        raise ValueError("motion_kernels: lengths must be >= 0 pixels.")
    travel = torch.clamp(lengths - 1.0, min=0.0)
    needed = int(math.ceil(float(travel.max()) / 2.0 - 1e-9)) + 1 if len(travel) else 1
    radius = needed if radius is None else int(radius)
    if radius < needed - 1:
        raise ValueError(f"motion_kernels: radius {radius} is too small for length "
                         f"{float(lengths.max()):.1f} (needs {needed - 1}).")
    size = 2 * radius + 1
    # A sample count that does not depend on the batch keeps each kernel a function of (l, a).
    longest = max(MAX_LENGTH - 1.0, float(travel.max()) if len(travel) else 0.0)
    n = int(math.ceil(longest * _SAMPLES_PER_PIXEL)) + 1
    # Trapezoid samples of the segment [-travel/2, travel/2]; weights integrate to 1.
    s = torch.linspace(-0.5, 0.5, n, dtype=torch.float64)
    quad = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
    quad[[0, -1]] *= 0.5
    theta = torch.deg2rad(angles)
    rows = radius - torch.sin(theta)[:, None] * travel[:, None] * s[None]  # (K, n)
    cols = radius + torch.cos(theta)[:, None] * travel[:, None] * s[None]
    rows = rows.clamp(0, size - 1)
    cols = cols.clamp(0, size - 1)
    r0 = rows.floor().clamp(max=size - 2) if size > 1 else rows.floor()
    c0 = cols.floor().clamp(max=size - 2) if size > 1 else cols.floor()
    fr, fc = rows - r0, cols - c0
    out = torch.zeros(len(lengths), size * size, dtype=torch.float64)
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            rr = (r0 + dr).clamp(max=size - 1).long()
            cc = (c0 + dc).clamp(max=size - 1).long()
            out.scatter_add_(1, rr * size + cc, wr * wc * quad[None])
    out /= out.sum(dim=1, keepdim=True)
    return out.reshape(-1, size, size).float()


def motion_kernel(length: float, angle: float, radius: int | None = None) -> np.ndarray:
    """Return one linear motion kernel as a float32 numpy array (see :func:`motion_kernels`)."""
    return motion_kernels([float(length)], [float(angle)], radius)[0].numpy()


@functools.lru_cache(maxsize=1)
def bank_parameters() -> tuple[np.ndarray, np.ndarray]:
    """Return the (length, angle) of the 511 bank kernels.

    Index 0 is the identity (l = 1, counted once); index ``1 + 30 * (i - 1) + j`` is length
    ``BANK_LENGTHS[i]`` (i >= 1) at angle ``BANK_ANGLES[j]``.
    """
    lengths = [1.0] + [float(lv) for lv in BANK_LENGTHS[1:] for _ in BANK_ANGLES]
    angles = [0.0] + [float(a) for _ in BANK_LENGTHS[1:] for a in BANK_ANGLES]
    return np.array(lengths, np.float32), np.array(angles, np.float32)


@functools.lru_cache(maxsize=1)
def _bank_kernels_cpu() -> torch.Tensor:
    lengths, angles = bank_parameters()
    return motion_kernels(lengths, angles, radius=BANK_RADIUS)


def bank_kernels(device: torch.device | str = "cpu") -> torch.Tensor:
    """Return the bank's 511 kernels, shape (511, 35, 35), float32."""
    return _bank_kernels_cpu().to(device)


def bank_size() -> int:
    """Number of kernels in the bank (511)."""
    return 1 + (len(BANK_LENGTHS) - 1) * len(BANK_ANGLES)


def interpolation_weights(length: torch.Tensor, angle: torch.Tensor):
    """Per-pixel lookup of the 4 bracketing bank kernels and their weights (paper Eq. 17).

    The four neighbours ``(l-, a-), (l-, a+), (l+, a-), (l+, a+)`` bracket the motion on the
    bank grid (angles wrap at 180 degrees). Their weights are the paper's distance-based soft
    weights over grid-normalized squared distances ``d2``, with the profile
    ``max(0, 1 - d2) ** 2`` instead of ``exp(-d2)``: it vanishes one grid step away, so the
    weights are exactly one-hot at bank points while staying continuous and differentiable.

    Parameters
    ----------
    length, angle : torch.Tensor
        Same shape; lengths are clipped to [1, 35] (callers warn about clipping).

    Returns
    -------
    indices : torch.LongTensor, shape (..., 4)
        Bank indices.
    weights : torch.Tensor, shape (..., 4)
        Non-negative weights summing to 1.
    """
    n_angles = len(BANK_ANGLES)
    u = (length.clamp(1.0, MAX_LENGTH) - 1.0) / _LENGTH_STEP  # in [0, 17]
    v = torch.remainder(angle, 180.0) / _ANGLE_STEP  # in [0, 30)
    l0 = u.detach().floor().clamp(max=len(BANK_LENGTHS) - 2)
    a0 = v.detach().floor().clamp(max=n_angles - 1)
    fu, fv = u - l0, v - a0
    l0, a0 = l0.long(), a0.long()
    a1 = torch.remainder(a0 + 1, n_angles)
    corners = ((l0, a0, fu, fv), (l0, a1, fu, 1 - fv), (l0 + 1, a0, 1 - fu, fv),
               (l0 + 1, a1, 1 - fu, 1 - fv))
    indices, profile = [], []
    for li, ai, du, dv in corners:
        indices.append(torch.where(li == 0, torch.zeros_like(li), 1 + (li - 1) * n_angles + ai))
        profile.append(torch.clamp(1.0 - (du * du + dv * dv), min=0.0) ** 2)
    indices = torch.stack(indices, dim=-1)
    profile = torch.stack(profile, dim=-1)
    return indices, profile / profile.sum(dim=-1, keepdim=True)


def odd_square(psf: torch.Tensor) -> torch.Tensor:
    """Zero-pad a (kh, kw) PSF to a square of odd side, keeping its centre at ``(kh//2, kw//2)``."""
    kh, kw = psf.shape[-2:]
    k = max(kh, kw)
    k += 1 - k % 2
    out = psf.new_zeros(k, k)
    r0, c0 = k // 2 - kh // 2, k // 2 - kw // 2
    out[r0 : r0 + kh, c0 : c0 + kw] = psf
    return out
