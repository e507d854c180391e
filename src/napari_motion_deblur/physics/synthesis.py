"""Synthetic data: blur an image with the forward model, and generate realistic motion fields.

The blur uses the project's one operator
(:class:`~napari_motion_deblur.physics.operators.NonUniformBlur` or a uniform
:class:`~napari_motion_deblur.physics.operators.Convolution`), so tests, sample data and
training see the same physics as IRC-Net inverts. (Benchmarks of blind deblurring use the
exact per-pixel operator of :mod:`~napari_motion_deblur.physics.reference` instead.)

Field generators return a :class:`MotionField` from a motion displacement ``m(p)`` (pixels moved
during the exposure); the streak extent is ``|m| + 1`` (a point that moves ``d`` pixels paints a
streak ``d + 1`` pixels long). Camera shake follows Gong et al. 2017: translation (with linear
ramps, from depth variation), in-plane rotation about a jittered centre and a zoom.
"""

from __future__ import annotations

import numpy as np
import torch

from .._validation import (
    as_float_image,
    check_motion_or_psf,
    is_finite_number,
    restore_layout,
    torch_device,
)
from ..motion import MAX_LENGTH, MotionField
from .kernels import odd_square
from .operators import Convolution, NonUniformBlur


def blur(image, motion_or_psf, noise_sigma: float = 0.0, seed=None, device="cpu") -> np.ndarray:
    """Blur an image with a motion field or a PSF, optionally adding Gaussian noise.

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, C)
        Sharp image; floats in [0, 1] or any integer dtype (scaled by its range).
    motion_or_psf : MotionField or array_like (kh, kw)
        Per-pixel motion, or a uniform PSF (normalized to sum 1).
    noise_sigma : float
        Standard deviation of additive Gaussian noise, in [0, 1] intensity units.
    seed : int or numpy.random.Generator, optional
        Noise seed.
    device : str
        ``"cpu"`` (default), ``"cuda[:N]"`` (the CPU, with a warning, when CUDA is missing) or
        ``"auto"``.

    Returns
    -------
    numpy.ndarray, float32, the image's shape
        The blurred (noisy) image, not clipped.

    Raises
    ------
    ValueError
        For an unusable image, field, PSF, device or ``noise_sigma`` (not a finite number >= 0),
        before any work.
    """
    if not (is_finite_number(noise_sigma) and noise_sigma >= 0):
        raise ValueError(f"noise_sigma must be a finite number >= 0, got {noise_sigma!r}")
    device = torch_device(device)
    img, layout = as_float_image(image)
    operator = _operator(check_motion_or_psf(motion_or_psf, img.shape[:2]), device)
    channels = torch.from_numpy(np.moveaxis(img, -1, 0).copy()).to(device)
    with torch.no_grad():
        out = operator(channels).cpu().numpy()
    if noise_sigma > 0:
        rng = np.random.default_rng(seed)
        out = out + rng.normal(0.0, noise_sigma, out.shape).astype(np.float32)
    return restore_layout(np.moveaxis(out, 0, -1), layout)


def _operator(motion_or_psf, device):
    if isinstance(motion_or_psf, MotionField):
        return NonUniformBlur(motion_or_psf, device=device)
    return Convolution(odd_square(torch.as_tensor(motion_or_psf, dtype=torch.float32)).to(device))


# --------------------------------------------------------------------------- fields
def field_from_displacement(drow: np.ndarray, dcol: np.ndarray) -> MotionField:
    """A field from per-pixel displacement during the exposure (streak = |d| + 1 px)."""
    travel = np.hypot(drow, dcol)
    length = np.where(travel > 0, travel + 1.0, 0.0)
    angle = np.degrees(np.arctan2(-drow, dcol))
    return MotionField(length, angle)


def _camera_displacement(shape, rng, peak_length: float):
    h, w = shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")
    size = max(h, w)
    centre = np.array([h, w]) / 2 + rng.uniform(-0.3, 0.3, 2) * np.array([h, w])
    pr, pc = (rows - centre[0]) / size, (cols - centre[1]) / size
    t = rng.normal(0, 1, 2)
    ramp = rng.normal(0, 0.5, (2, 2))  # depth-dependent translation: linear ramps
    omega = rng.normal(0, 1.0)
    zoom = rng.normal(0, 0.5)
    drow = t[0] + ramp[0, 0] * pr + ramp[0, 1] * pc - omega * pc + zoom * pr
    dcol = t[1] + ramp[1, 0] * pr + ramp[1, 1] * pc + omega * pr + zoom * pc
    peak = float(np.hypot(drow, dcol).max())
    factor = (peak_length - 1.0) / peak if peak > 0 else 0.0
    return drow * factor, dcol * factor


def camera_shake_field(shape, rng=None, max_length: float = MAX_LENGTH,
                       min_length: float = 5.0) -> MotionField:
    """Camera translation + in-plane rotation + zoom (Gong et al. 2017), smooth over the image.

    The longest streak is drawn uniformly in ``[min_length, max_length]``.
    """
    rng = np.random.default_rng(rng)
    peak = rng.uniform(min(min_length, max_length), max_length)
    return field_from_displacement(*_camera_displacement(shape, rng, peak))


def uniform_random_field(shape, rng=None, max_length: float = MAX_LENGTH,
                         min_length: float = 3.0) -> MotionField:
    """One random linear motion everywhere."""
    rng = np.random.default_rng(rng)
    length = rng.uniform(min(min_length, max_length), max_length)
    return MotionField.uniform(shape, length, rng.uniform(0, 180))


def object_motion_field(shape, rng=None, max_length: float = MAX_LENGTH,
                        objects: int | None = None) -> MotionField:
    """Piecewise motion: a mild camera-shake background with 1-3 moving objects (ellipses)."""
    rng = np.random.default_rng(rng)
    h, w = shape
    drow, dcol = _camera_displacement(shape, rng, rng.uniform(1.0, max(1.0, max_length / 2)))
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for _ in range(objects if objects is not None else int(rng.integers(1, 4))):
        cr, cc = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
        ar, ac = rng.uniform(0.1, 0.3) * h, rng.uniform(0.1, 0.3) * w
        inside = ((rows - cr) / ar) ** 2 + ((cols - cc) / ac) ** 2 <= 1.0
        travel = rng.uniform(min(3.0, max_length), max_length) - 1.0
        theta = rng.uniform(0, np.pi)
        drow[inside] = -np.sin(theta) * travel
        dcol[inside] = np.cos(theta) * travel
    return field_from_displacement(drow, dcol)


FIELD_KINDS = {
    "camera": camera_shake_field,
    "uniform": uniform_random_field,
    "objects": object_motion_field,
}


def random_field(shape, rng=None, kind: str = "mixed", max_length: float = MAX_LENGTH
                 ) -> MotionField:
    """A random field of ``kind`` "camera", "uniform", "objects" or "mixed" (any of them)."""
    rng = np.random.default_rng(rng)
    if kind == "mixed":
        kind = str(rng.choice(["camera", "camera", "uniform", "objects"]))
    if kind not in FIELD_KINDS:
        raise ValueError(f"kind must be one of {sorted(FIELD_KINDS)} or 'mixed', got {kind!r}")
    return FIELD_KINDS[kind](shape, rng, max_length=max_length)
