"""How Motion-Net's output encodes a motion field, and the error its training minimizes.

At every pixel: the sign-free doubled-angle direction ``(cos 2a, sin 2a)``, continuous across
the 0/180 degree wrap, and the length in units of :data:`OUTPUT_SCALE` px.
"""

from __future__ import annotations

import numpy as np
import torch

from ..motion import MAX_LENGTH, MotionField, doubled_angle, undoubled_angle

#: The network's outputs are streak lengths divided by this (keeps activations near unit scale).
OUTPUT_SCALE = 10.0


def to_field(output: torch.Tensor) -> MotionField:
    """Convert one network output (3, H, W) or (1, 3, H, W) to a :class:`MotionField`."""
    out = output.detach().float().reshape(3, *output.shape[-2:]).cpu().numpy()
    length = np.clip(out[2] * OUTPUT_SCALE, 0.0, MAX_LENGTH)
    return MotionField(length, undoubled_angle(out[0], out[1]))


def from_field(field: MotionField) -> np.ndarray:
    """The training target of a field: (3, H, W) float32 ``(cos 2a, sin 2a, l / scale)``."""
    length = field.length.astype(np.float64) / OUTPUT_SCALE
    return np.stack([*doubled_angle(field.angle), length]).astype(np.float32)


def streak_error(estimate: MotionField, truth: MotionField) -> float:
    """Mean per-pixel squared distance between streak vectors, minimized over the sign.

    With ``v = l (cos a, -sin a)``, ``min(|v1 - v2|^2, |v1 + v2|^2)
    = l1^2 + l2^2 - 2 l1 l2 |cos(a1 - a2)|`` (px^2). Lengths are clipped to [0, 35] and
    lengths <= 1 (no blur) count as 0.
    """
    if estimate.shape != truth.shape:
        raise ValueError(f"field shapes differ: {estimate.shape} vs {truth.shape}")
    l1, l2 = (np.where(f.length > 1.0, np.minimum(f.length, MAX_LENGTH), 0.0).astype(np.float64)
              for f in (estimate, truth))
    cos = np.abs(np.cos(np.radians(estimate.angle.astype(np.float64) - truth.angle)))
    return float(np.mean(l1 * l1 + l2 * l2 - 2.0 * l1 * l2 * cos))
