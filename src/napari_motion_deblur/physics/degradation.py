"""Test data made independently of IRC-Net's operator: strong camera shake and a camera pipeline.

Blind deblurring must be judged on blur that its own model does not describe exactly. This
module makes such data with the exact per-pixel operator
(:class:`~napari_motion_deblur.physics.reference.ReferenceBlur`), never with the node-based one:

* :func:`strong_shake_displacement`: camera shake dominated by in-plane rotation and zoom (the
  blur changes direction and length across the image, so no uniform field fits it);
* :func:`curved_path`: a motion field's linear paths bent into short arcs, which a linear
  kernel cannot represent exactly (the field remains their least-squares linear fit);
* :func:`degrade`: a linear observation (blur + Gaussian noise) or a realistic one: blur in
  linear light, exposure that clips a few % of highlights, Poisson-Gaussian noise, sRGB
  encoding, 8-bit quantization and JPEG; deterministic for a given seed.

The sharp reference of a realistic case is the same exposure without blur and noise (the
clipped highlights are in it too), so the PSNR measures deblurring, not tone mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import is_count
from ..motion import MotionField
from .compression import eight_bit, jpeg_round_trip
from .reference import ReferenceBlur, linear_path
from .srgb import linear_to_srgb, srgb_to_linear
from .synthesis import field_from_displacement

__all__ = ["Observation", "curved_path", "degrade", "linear_to_srgb", "srgb_to_linear",
           "strong_shake_displacement", "strong_shake_field"]

#: Points of a curved path (equally spaced in time).
CURVE_POINTS = 7


def strong_shake_displacement(shape, rng, peak_length: float, rotation: float = 6.0,
                              zoom: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel displacement (drow, dcol) of a camera shake led by rotation and zoom.

    The translation, in-plane rotation (about a centre that may lie outside the image) and zoom
    are drawn with standard deviations 1, ``rotation`` and ``zoom`` (in units of the image
    size), then scaled so that the longest streak is ``peak_length`` px.
    """
    h, w = shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")
    size = max(h, w)
    centre = np.array([h, w]) * rng.uniform(-0.2, 1.2, 2)
    pr, pc = (rows - centre[0]) / size, (cols - centre[1]) / size
    t = rng.normal(0, 1, 2)
    omega = rng.normal(0, rotation)
    scale = rng.normal(0, zoom)
    drow = t[0] - omega * pc + scale * pr
    dcol = t[1] + omega * pr + scale * pc
    peak = float(np.hypot(drow, dcol).max())
    factor = (peak_length - 1.0) / peak if peak > 0 else 0.0
    return drow * factor, dcol * factor


def strong_shake_field(shape, rng=None, max_length: float = 35.0) -> MotionField:
    """A :class:`MotionField` of :func:`strong_shake_displacement`, its longest streak drawn
    uniformly in [``max_length`` / 2, ``max_length``] px."""
    rng = np.random.default_rng(rng)
    peak = rng.uniform(max_length / 2.0, max_length)
    return field_from_displacement(*strong_shake_displacement(shape, rng, peak))


def curved_path(field: MotionField, bend: float, points: int = CURVE_POINTS) -> np.ndarray:
    """Bend each pixel's linear path into a parabolic arc: ``(points, 2, H, W)`` displacements.

    ``d(t) = t D + (t^2 - 1/12) bend |D| n`` for ``t`` in [-1/2, 1/2], ``D`` the linear
    displacement and ``n`` its normal. The arc's sag is ``|bend| |D| / 8``; its least-squares
    linear fit is ``t D`` (the quadratic term is orthogonal to 1 and t), so ``field`` stays the
    best linear description of the blur.
    """
    linear = linear_path(field)  # (2, 2, H, W): -D/2 and +D/2
    d = linear[1] - linear[0]
    normal = np.stack([d[1], -d[0]])  # D turned by 90 degrees, same norm
    t = np.linspace(-0.5, 0.5, points)[:, None, None, None]
    return t * d[None] + (t**2 - 1.0 / 12.0) * bend * normal[None]


@dataclass(frozen=True)
class Observation:
    """A degraded image, its sharp reference and the true (linear) field, all cropped."""

    blurred: np.ndarray
    sharp: np.ndarray
    field: MotionField
    settings: dict


def degrade(sharp: np.ndarray, field: MotionField, seed: int, realistic: bool = False,
            sigma: float = 0.01, crop: int = 20, jpeg_quality: int | None = 90) -> Observation:
    """Blur ``sharp`` with ``field`` through the exact operator and observe it.

    Parameters
    ----------
    sharp : numpy.ndarray, (H, W) or (H, W, 3), float in [0, 1]
        The sharp image (sRGB-encoded, as photographs are).
    field : MotionField
        The linear motion, the image's (H, W).
    seed : int
        Seeds every random choice (noise, exposure, bend, JPEG is deterministic).
    realistic : bool
        False: blur the sRGB values along linear paths and add Gaussian noise ``sigma``.
        True: blur in linear light along curved paths (bend in [-0.6, 0.6]), clip 0.5-3 % of
        highlights, Poisson-Gaussian noise (300-3000 photons at full scale, read noise
        0.001-0.004), sRGB encoding, 8-bit quantization, JPEG quality 90.
    sigma : float
        Gaussian noise of the linear variant.
    crop : int
        Border removed after the degradation (no method knows what lies beyond the edge).
    jpeg_quality : int or None
        The realistic variant's JPEG quality (1-100); None saves it losslessly instead (8-bit
        quantization only: a camera's PNG or TIFF). The random draws do not depend on it.
    """
    if jpeg_quality is not None and not is_count(jpeg_quality, 1, 100):
        raise ValueError(f"jpeg_quality must be None or an integer in 1..100, "
                         f"got {jpeg_quality!r}")
    rng = np.random.default_rng(seed)
    sharp = np.asarray(sharp, np.float32)
    inner = (slice(crop, sharp.shape[0] - crop), slice(crop, sharp.shape[1] - crop))
    cropped = MotionField(field.length[inner], field.angle[inner])
    if not realistic:
        blurred = ReferenceBlur(field)(sharp)
        blurred = blurred + rng.normal(0.0, sigma, blurred.shape).astype(np.float32)
        return Observation(blurred[inner], np.ascontiguousarray(sharp[inner]), cropped,
                           {"variant": "linear", "sigma": sigma})
    bend = float(rng.uniform(-0.6, 0.6))
    clip_fraction = float(rng.uniform(0.005, 0.03))
    photons = float(np.exp(rng.uniform(np.log(300.0), np.log(3000.0))))
    read_noise = float(rng.uniform(0.001, 0.004))
    linear = srgb_to_linear(sharp)
    blurred = ReferenceBlur(curved_path(field, bend))(linear.astype(np.float32)).astype(np.float64)
    level = float(np.quantile(blurred[inner], 1.0 - clip_fraction))
    gain = float(np.clip(1.0 / max(level, 1e-3), 1.0, 3.0))
    blurred = np.clip(blurred * gain, 0.0, None)
    noisy = rng.poisson(blurred * photons) / photons + rng.normal(0.0, read_noise, blurred.shape)
    encoded = linear_to_srgb(np.clip(noisy, 0.0, 1.0))
    observed = (eight_bit(encoded).astype(np.float32) / 255.0 if jpeg_quality is None
                else jpeg_round_trip(encoded, jpeg_quality))
    reference = linear_to_srgb(np.clip(linear * gain, 0.0, 1.0)).astype(np.float32)
    settings = {"variant": "realistic", "bend": bend, "clip_fraction": clip_fraction,
                "gain": gain, "photons": photons, "read_noise": read_noise,
                "jpeg_quality": jpeg_quality}
    return Observation(np.ascontiguousarray(observed[inner]),
                       np.ascontiguousarray(reference[inner]), cropped, settings)
