"""Blind motion estimation (Motion-Net or a weight-free spectral baseline) and blind deblurring.

``estimate_motion`` returns the per-pixel :class:`~napari_motion_deblur.motion.MotionField` of a
blurred image; ``deblur`` estimates it and removes it with IRC-Net
(:func:`~napari_motion_deblur.deconvolution.deconvolve`). Motion-Net's estimate (averaged over
test-time passes) is checked against the image's cepstrum
(:func:`~napari_motion_deblur.estimation.spectral.cepstral_check`): where a clear cepstral peak lies near
the estimated streak, the estimate is moved onto it and counts as confirmed. Blind deblurring
deconvolves with confirmed streaks as they are and with the others shortened
(``length_scale``), because a too-long kernel costs far more than a too-short one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import as_float_image, is_finite_number
from ..deconvolution import deconvolve, resolve_device
from ..motion import MAX_LENGTH, MotionField
from ..solvers.irc import DEFAULT_LAMBDA
from .motionnet import check_passes, get_motionnet, luminance, predict
from .spectral import cepstral_check, spectral_motion

METHODS = ("motionnet", "spectral")
#: Motion-Net test-time passes (quarter turns of the image) averaged by default.
DEFAULT_PASSES = 4
#: Blind deblurring shortens unconfirmed streaks by this factor: a too-long kernel costs far
#: more than a too-short one (measured: true lengths x1.1 lose ~0.9 dB, x0.9 ~0.2 dB), so with
#: estimates this uncertain the shorter kernel is the better bet (benchmarks/blind_tuning.py).
BLIND_LENGTH_SCALE = 0.8
#: Blind deblurring's TV weight: twice the non-blind default, against ringing from kernel errors.
BLIND_REGULARIZATION = 2.0 * DEFAULT_LAMBDA


def _luminance_of(image, caller: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        img, _ = as_float_image(image)
    except ValueError as err:
        shape = getattr(np.asarray(image) if image is not None else None, "shape", None)
        hint = (" Stacks (Z/T, H, W) are not supported: estimate each 2-D slice."
                if shape is not None and len(shape) >= 3 and shape[-1] > 4 else "")
        raise ValueError(f"{caller}: {err}{hint}") from err
    return img, np.clip(luminance(img), 0.0, 1.0)


def _check_length_scale(length_scale) -> None:
    if not (is_finite_number(length_scale) and 0.0 < length_scale <= 1.5):
        raise ValueError(f"length_scale must be a number in (0, 1.5], got {length_scale!r}")


@dataclass(frozen=True)
class MotionEstimate:
    """An estimated field and where the cepstrum confirmed it (``confidence``, (H, W) in [0, 1]).
    """

    field: MotionField
    confidence: np.ndarray

    def for_deblurring(self, length_scale: float = BLIND_LENGTH_SCALE) -> MotionField:
        """The field to deconvolve with: unconfirmed lengths times ``length_scale``."""
        _check_length_scale(length_scale)
        factor = length_scale + (1.0 - length_scale) * self.confidence
        return MotionField(np.minimum(self.field.length * factor, MAX_LENGTH), self.field.angle)


def estimate_motion(image, method: str = "motionnet", device="auto",
                    passes: int = DEFAULT_PASSES, check: bool = True) -> MotionField:
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
        of the image, averaged (see :func:`~napari_motion_deblur.estimation.motionnet.predict`). Each pass
        costs one network run (benchmarks/estimation_speed.py); 4 passes measured 14-29 % lower
        error than 1 (benchmarks/blind_tuning.py).
    check : bool
        Motion-Net only: refine the estimate where the cepstrum confirms it
        (:func:`~napari_motion_deblur.estimation.spectral.cepstral_check`).

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
    return estimate_with_confidence(image, method, device, passes, check).field


def estimate_with_confidence(image, method: str = "motionnet", device="auto",
                             passes: int = DEFAULT_PASSES, check: bool = True) -> MotionEstimate:
    """:func:`estimate_motion`, also returning where the cepstrum confirmed the estimate.

    The confidence is 0 everywhere for the spectral method and without ``check``.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    check_passes(passes)  # before the work, also for the spectral method (which ignores it)
    _, lum = _luminance_of(image, "estimate_motion")
    unconfirmed = np.zeros(lum.shape, np.float32)
    if method == "spectral":
        return MotionEstimate(spectral_motion(lum), unconfirmed)
    dev = resolve_device(device)
    field = predict(get_motionnet(dev), lum, dev, passes=int(passes))
    if not check:
        return MotionEstimate(field, unconfirmed)
    return MotionEstimate(*cepstral_check(lum, field))


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
        Factor in (0, 1.5] applied to the estimated lengths that the cepstrum did not confirm,
        before deconvolving: over-long kernels ring while short ones only leave some blur, so
        the default is cautious (0.8). Use 1 to deconvolve with the estimate as it is.
    regularization : float
        IRC-Net's TV weight (default: twice the non-blind default, for robustness to
        estimation errors).

    Returns
    -------
    result : numpy.ndarray
        float32 in [0, 1], the image's shape.
    field : MotionField
        The motion used for the deconvolution (see :meth:`MotionEstimate.for_deblurring`).
    """
    _check_length_scale(length_scale)  # before the estimation, not after it
    field = estimate_with_confidence(image, method, device, passes).for_deblurring(length_scale)
    result = deconvolve(image, field, stages=stages, iterations=iterations, device=device,
                        regularization=regularization)
    return result, field
