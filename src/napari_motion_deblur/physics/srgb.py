"""The sRGB transfer curve (IEC 61966-2-1): photographs store light through it.

Blur adds up light, so a photograph's blur is linear in *linear light*, not in the encoded
values a JPEG holds. :func:`srgb_to_linear` undoes the encoding before a deconvolution
(:class:`~napari_motion_deblur.settings.DeconvolutionSettings` ``linear_light``) and
:func:`linear_to_srgb` applies it again to the result; the test data of
:mod:`~napari_motion_deblur.physics.degradation` is made with the same curve.
"""

from __future__ import annotations

import numpy as np


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in [0, 1] to linear light (values outside are clipped first)."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB encoding (values outside are clipped first)."""
    v = np.clip(v, 0.0, 1.0)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
