"""Motion-Net's fixed front end: local contrast normalization and oriented difference energies.

A streak of length l along angle a flattens the differences between pixels ``s`` apart along a
when ``s`` is short of ``l``, so the log energy of such differences, per orientation and
distance, points straight at the angle (its profile over orientations) and the length (the
distances it flattens). These features feed the learned layers the classic blur cue directly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_window(sigma: float) -> torch.Tensor:
    """A normalized 1-D Gaussian of radius ``3 sigma``."""
    radius = int(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def difference_filters(orientations: int, shifts) -> torch.Tensor:
    """(orientations * len(shifts), 1, k, k) filters ``x(p + s u / 2) - x(p - s u / 2)``.

    ``u`` is the direction (row, col) = (-sin a, cos a); off-grid points are bilinear.
    """
    radius = int(math.ceil(max(shifts) / 2)) + 1
    size = 2 * radius + 1
    filters = torch.zeros(len(shifts), orientations, size, size)
    for i, shift in enumerate(shifts):
        for j in range(orientations):
            a = math.pi * j / orientations
            for sign in (1.0, -1.0):
                r = radius - sign * math.sin(a) * shift / 2
                c = radius + sign * math.cos(a) * shift / 2
                r0, c0 = math.floor(r), math.floor(c)
                for dr in (0, 1):
                    for dc in (0, 1):
                        weight = (1 - abs(r - r0 - dr)) * (1 - abs(c - c0 - dc))
                        if weight > 0:
                            filters[i, j, r0 + dr, c0 + dc] += sign * weight
    return filters.reshape(-1, 1, size, size)


def oriented_energy(x: torch.Tensor, filters: torch.Tensor, shifts, pool: int) -> torch.Tensor:
    """Log energies of :func:`difference_filters` ``filters`` of ``shifts`` on ``x``, pooled by
    ``pool``: per distance, the profile over orientations (minus its mean), then the means.

    Returns (B, (orientations + 1) * len(shifts), H / pool, W / pool).
    """
    n = len(shifts)
    per_scale = filters.shape[0] // n
    centre = filters.shape[-1] // 2
    energy = []
    for i, shift in enumerate(shifts):
        # Each scale's filters are cropped to their support (most taps are zero).
        pad = math.ceil(shift / 2) + 1
        ki = filters[i * per_scale : (i + 1) * per_scale, :, centre - pad : centre + pad + 1,
                     centre - pad : centre + pad + 1]
        mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
        d = F.conv2d(F.pad(x, (pad,) * 4, mode=mode), ki)
        energy.append(torch.log(F.avg_pool2d(d * d, pool) + 1e-4))
    energy = torch.stack(energy, 1)
    mean = energy.mean(2, keepdim=True)
    return torch.cat([(energy - mean).flatten(1, 2), mean[:, :, 0]], 1)


def local_contrast(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``x`` minus its local mean, divided by its local standard deviation (+ 0.01).

    Blur cues are relative (which directions lost their detail), so the same streak then looks
    the same in dim and bright, flat and busy regions.
    """
    pad = window.shape[-1] // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"

    def smooth(v):
        v = F.pad(v, (pad, pad, 0, 0), mode=mode)
        v = F.conv2d(v, window.reshape(1, 1, 1, -1))
        v = F.pad(v, (0, 0, pad, pad), mode=mode)
        return F.conv2d(v, window.reshape(1, 1, -1, 1))

    centred = x - smooth(x)
    return centred / (smooth(centred * centred).sqrt() + 0.01)
