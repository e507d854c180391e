"""Blind motion estimation (Motion-Net or a weight-free spectral baseline) and blind deblurring.

``estimate_motion`` returns the per-pixel :class:`~napari_motion_deblur.motion.MotionField` of a
blurred image; ``deblur`` estimates it and removes it with IRC-Net
(:func:`~napari_motion_deblur.deconvolution.deconvolve`).

The spectral estimator is the classic cepstral method: a streak of length ``l`` moves a point
``d = l - 1`` pixels, so its spectrum is (close to) ``sinc(f . u d)``, with zero lines
perpendicular to the motion ``u`` every ``1/d`` cycles per pixel. The cepstrum (inverse Fourier
transform of the log power spectrum) turns that periodic ripple into a negative peak at
``+-d u``. Cepstra of windowed overlapping patches are averaged over neighbouring patches (the
blur varies slowly; single patches are noisy), the deepest minimum in the annulus
``1.5 <= d <= 34`` gives the local motion, and the patch estimates are interpolated to every
pixel (length and doubled angle separately).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._validation import as_float_image, is_finite_number
from .deconvolution import deconvolve, resolve_device
from .irc import DEFAULT_LAMBDA
from .motion import MAX_LENGTH, MotionField, doubled_angle, undoubled_angle
from .motionnet import MAX_PASSES, get_motionnet, luminance, predict

METHODS = ("motionnet", "spectral")
#: Motion-Net test-time passes (quarter turns of the image) averaged by default.
DEFAULT_PASSES = 4
#: Blind deblurring shortens estimated streaks by this factor: a too-long kernel costs far more
#: than a too-short one (measured: true lengths x1.1 lose ~0.9 dB, x0.9 ~0.2 dB), so with
#: estimates this uncertain the shorter kernel is the better bet (benchmarks/blind_tuning.py).
BLIND_LENGTH_SCALE = 0.8
#: Blind deblurring's TV weight: twice the non-blind default, against ringing from kernel errors.
BLIND_REGULARIZATION = 2.0 * DEFAULT_LAMBDA
SPECTRAL_PATCH = 128
SPECTRAL_STRIDE = 32
#: Neighbour averaging of patch cepstra (Gaussian sigma, in patch steps).
SPECTRAL_SMOOTHING = 1.5
_MIN_TRAVEL = 1.5


def _luminance_of(image, caller: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        img, _ = as_float_image(image)
    except ValueError as err:
        shape = getattr(np.asarray(image) if image is not None else None, "shape", None)
        hint = (" Stacks (Z/T, H, W) are not supported: estimate each 2-D slice."
                if shape is not None and len(shape) >= 3 and shape[-1] > 4 else "")
        raise ValueError(f"{caller}: {err}{hint}") from err
    return img, np.clip(luminance(img), 0.0, 1.0)


def estimate_motion(image, method: str = "motionnet", device="auto",
                    passes: int = DEFAULT_PASSES) -> MotionField:
    """Estimate the per-pixel linear motion blur of an image.

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, C)
        Blurred image: float in [0, 1] or an integer dtype (scaled by its range). Colour images
        are converted to luminance; an alpha channel is ignored.
    method : {"motionnet", "spectral"}
        ``"motionnet"``: the trained CNN (paper, Sec. 3.1). ``"spectral"``: a weight-free
        cepstral baseline, reliable for blur that is uniform over ~100-pixel regions.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; Motion-Net only.
    passes : int
        Motion-Net only: test-time augmentation, 1 to 8 passes over quarter turns and mirrors
        of the image, averaged (see :func:`~napari_motion_deblur.motionnet.predict`). Each pass
        costs one network run (~0.5 s per 512x512 on 2 CPU cores); 4 passes measured ~15 %
        lower error than 1 (benchmarks/motion.py).

    Returns
    -------
    MotionField
        Lengths in [0, 35] px and angles in [0, 180) degrees, the image's (H, W).

    Raises
    ------
    ValueError
        For an unusable image (wrong shape or dtype, a stack, NaNs), an unknown method or a
        bad ``passes``.
    RuntimeError
        If the Motion-Net weights are missing or corrupt (the message says how to retrain).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not isinstance(passes, (int, np.integer)) or not 1 <= passes <= MAX_PASSES:
        raise ValueError(f"passes must be an integer in 1..{MAX_PASSES}, got {passes!r}")
    _, lum = _luminance_of(image, "estimate_motion")
    if method == "spectral":
        return spectral_motion(lum)
    dev = resolve_device(device)
    return predict(get_motionnet(dev), lum, dev, passes=int(passes))


def deblur(image, method: str = "motionnet", stages: int = 5, iterations: int = 2,
           device="auto", passes: int = DEFAULT_PASSES,
           length_scale: float = BLIND_LENGTH_SCALE,
           regularization: float = BLIND_REGULARIZATION) -> tuple[np.ndarray, MotionField]:
    """Blind deblurring: estimate the motion field, then deconvolve with IRC-Net.

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, C)
        Blurred image (see :func:`estimate_motion`); colour is deconvolved per channel.
    method : {"motionnet", "spectral"}
        The motion estimator.
    stages, iterations : int
        IRC-Net's ADMM stages and IRC iterations (see
        :func:`~napari_motion_deblur.deconvolution.deconvolve`).
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    passes : int
        Motion-Net test-time passes (see :func:`estimate_motion`).
    length_scale : float
        Factor in (0, 1.5] applied to the estimated lengths before deconvolving: over-long
        kernels ring while short ones only leave some blur, so the default is cautious (0.8).
        Use 1 to deconvolve with the estimate as it is.
    regularization : float
        IRC-Net's TV weight (default: twice the non-blind default, for robustness to
        estimation errors).

    Returns
    -------
    result : numpy.ndarray
        float32 in [0, 1], the image's shape.
    field : MotionField
        The motion used for the deconvolution (the estimate, lengths times ``length_scale``).
    """
    if not (is_finite_number(length_scale) and 0.0 < length_scale <= 1.5):
        raise ValueError(f"length_scale must be a number in (0, 1.5], got {length_scale!r}")
    field = estimate_motion(image, method=method, device=device, passes=passes)
    if length_scale != 1.0:
        field = MotionField(np.minimum(field.length * length_scale, MAX_LENGTH), field.angle)
    result = deconvolve(image, field, stages=stages, iterations=iterations, device=device,
                        regularization=regularization)
    return result, field


# -------------------------------------------------------------------------------- spectral
def _starts(size: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


def _patch_cepstra(lum: np.ndarray, patch: int, stride: int):
    rows, cols = _starts(lum.shape[0], patch, stride), _starts(lum.shape[1], patch, stride)
    window = np.outer(np.hanning(patch), np.hanning(patch))
    patches = np.lib.stride_tricks.sliding_window_view(lum, (patch, patch))
    stack = patches[np.ix_(rows, cols)].astype(np.float64)  # (nr, nc, patch, patch)
    stack = (stack - stack.mean(axis=(-2, -1), keepdims=True)) * window
    power = np.abs(np.fft.fft2(stack)) ** 2
    # A floor relative to each patch's energy keeps flat patches from producing -inf logs.
    floor = 1e-6 * power.mean(axis=(-2, -1), keepdims=True) + 1e-12
    cepstra = np.fft.fftshift(np.fft.ifft2(np.log(power + floor)).real, axes=(-2, -1))
    return rows, cols, cepstra


def _polar_grid(patch: int, max_travel: float):
    travel = np.arange(_MIN_TRAVEL, max_travel + 1e-6, 0.5)
    theta = np.radians(np.arange(0.0, 180.0, 1.0))
    centre = patch // 2
    rr = centre - np.sin(theta)[None] * travel[:, None]
    cc = centre + np.cos(theta)[None] * travel[:, None]
    return travel, np.degrees(theta), rr, cc


def spectral_motion(lum: np.ndarray, patch: int = SPECTRAL_PATCH, stride: int = SPECTRAL_STRIDE,
                    smoothing: float = SPECTRAL_SMOOTHING) -> MotionField:
    """Cepstral motion estimate of a (H, W) luminance image in [0, 1] (see the module notes).

    Parameters
    ----------
    lum : numpy.ndarray, (H, W)
        Luminance.
    patch, stride : int
        Patch side and spacing in pixels (the patch is shrunk for small images).
    smoothing : float
        Gaussian sigma, in patch steps, of the averaging of neighbouring cepstra.
    """
    lum = np.asarray(lum, dtype=np.float64)
    h, w = lum.shape
    patch = min(patch, h, w)
    patch -= patch % 2
    stride = max(1, min(stride, patch // 2))
    rows, cols, cepstra = _patch_cepstra(lum, patch, stride)
    if smoothing > 0:
        cepstra = ndimage.gaussian_filter(cepstra, (smoothing, smoothing, 0, 0), mode="nearest")
    max_travel = min(MAX_LENGTH - 1.0, patch / 2.0 - 2.0)
    travel, degrees, rr, cc = _polar_grid(patch, max_travel)
    nr, nc = len(rows), len(cols)
    length = np.zeros((nr, nc))
    angle = np.zeros((nr, nc))
    for i in range(nr):
        for j in range(nc):
            values = ndimage.map_coordinates(cepstra[i, j], [rr, cc], order=1)
            k, a = np.unravel_index(np.argmin(values), values.shape)
            length[i, j], angle[i, j] = travel[k] + 1.0, degrees[a]
    return _interpolate(length, angle, rows, cols, patch, (h, w))


def _interpolate(length, angle, rows, cols, patch, shape) -> MotionField:
    """Patch-centre estimates -> per-pixel field (length and doubled angle interpolated)."""
    centres_r = np.asarray(rows, np.float64) + (patch - 1) / 2.0
    centres_c = np.asarray(cols, np.float64) + (patch - 1) / 2.0
    pr = np.interp(np.arange(shape[0]), centres_r, np.arange(len(rows)))
    pc = np.interp(np.arange(shape[1]), centres_c, np.arange(len(cols)))
    grid = np.meshgrid(pr, pc, indexing="ij")
    cos2, sin2 = (ndimage.map_coordinates(v, grid, order=1, mode="nearest")
                  for v in doubled_angle(angle))
    lengths = ndimage.map_coordinates(length, grid, order=1, mode="nearest")
    return MotionField(np.clip(lengths, 0.0, MAX_LENGTH), undoubled_angle(cos2, sin2))
