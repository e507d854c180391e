"""Blind motion estimation (Motion-Net or a weight-free spectral baseline) and blind deblurring.

``estimate_motion`` returns the per-pixel :class:`~napari_motion_deblur.motion.MotionField` of a
blurred image; ``deblur`` estimates it and removes it with IRC-Net
(:func:`~napari_motion_deblur.deconvolution.deconvolve`). Motion-Net's estimate (averaged over
test-time passes) is checked against the image's cepstrum
(:func:`~napari_motion_deblur.estimation.spectral.cepstral_check`): where a clear cepstral
peak lies near the estimated streak, the estimate is moved onto it and counts as confirmed.
Then one camera motion (translation, rotation, zoom) is fitted to the whole estimate and scaled
to where the cepstra of all patches, pooled, dip deepest
(:mod:`~napari_motion_deblur.estimation.camera_model`); where that evidence is clear, pixels
whose estimate agrees with the motion take its streaks and count as confirmed too.
Blind deblurring deconvolves with confirmed streaks as they are and with the others shortened
(``length_scale``), because a too-long kernel costs far more than a too-short one.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from .._validation import as_float_image, is_dask
from ..deconvolution import deconvolve, resolve_device
from ..motion import MAX_LENGTH, MotionField
from ..settings import (
    BLIND_LENGTH_SCALE,
    BLIND_REGULARIZATION_FACTOR,
    DEFAULT_LAMBDA,
    DEFAULT_PASSES,
    METHODS,
    DeblurSettings,
    EstimationSettings,
    check_length_scale,
)
from ..tiling import (
    ESTIMATION_BYTES_PER_PIXEL,
    ESTIMATION_HALO,
    ESTIMATION_WHOLE_BYTES_PER_PIXEL,
    auto_tile,
    tile_boxes,
)
from .camera_model import DOWNSCALES, SINGLE_PATCH, WIDE_SCALES, CameraFit, camera_check
from .motionnet import get_motionnet, iter_predict, luminance
from .spectral import cepstral_check, patch_cepstra, spectral_motion

#: Tiles of a large image (see :mod:`~napari_motion_deblur.tiling`): corners on Motion-Net's
#: tile step (96 px, a multiple of the cepstral check's 32-px patch stride); the halo covers a
#: network tile (128 px) and the check's patch (128 px) with its neighbour averaging.
ESTIMATION_ALIGN = 96

__all__ = ["BLIND_LENGTH_SCALE", "BLIND_REGULARIZATION", "DEFAULT_PASSES", "METHODS",
           "EstimationProgress", "MotionEstimate", "deblur", "estimate_motion",
           "estimate_with_confidence", "iter_estimate"]

#: Blind deblurring's fixed TV weight when not ``"auto"``: twice the non-blind default.
BLIND_REGULARIZATION = BLIND_REGULARIZATION_FACTOR * DEFAULT_LAMBDA


def image_error(caller: str, err: ValueError, shape) -> ValueError:
    """``err`` about an image of ``shape``, prefixed by ``caller`` (with a hint for stacks)."""
    hint = (" Stacks (Z/T, H, W) are not supported: estimate each 2-D slice."
            if shape is not None and len(shape) >= 3 and shape[-1] > 4 else "")
    return ValueError(f"{caller}: {err}{hint}")


def _luminance_of(image, caller: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        img, _ = as_float_image(image)
    except ValueError as err:
        shape = getattr(np.asarray(image) if image is not None else None, "shape", None)
        raise image_error(caller, err, shape) from err
    return img, np.clip(luminance(img), 0.0, 1.0)


@dataclass(frozen=True)
class MotionEstimate:
    """An estimated field and where the cepstrum confirmed it (``confidence``, (H, W) in [0, 1]).

    ``camera`` is what the camera model found (its motions, residual, margin and whether it
    was used; :class:`~napari_motion_deblur.estimation.camera_model.CameraFit`), or None when
    it did not run or the image was estimated in tiles (each tile has its own). The estimate of
    a dask image holds a :class:`~napari_motion_deblur.motion.LazyMotionField` and a dask
    ``confidence``.
    """

    field: MotionField
    confidence: np.ndarray
    camera: CameraFit | None = None

    def for_deblurring(self, length_scale: float = BLIND_LENGTH_SCALE) -> MotionField:
        """The field to deconvolve with: unconfirmed lengths times ``length_scale``."""
        check_length_scale(length_scale)
        factor = length_scale + (1.0 - length_scale) * self.confidence
        # type(): a lazy estimate gives a lazy field (numpy ufuncs keep dask arrays lazy)
        return type(self.field)(np.minimum(self.field.length * factor, MAX_LENGTH),
                                self.field.angle)


def _estimation_settings(settings, **parameters) -> EstimationSettings:
    if settings is None:
        return EstimationSettings(**parameters)
    if not isinstance(settings, EstimationSettings):
        raise ValueError(f"settings must be an EstimationSettings, got {type(settings).__name__}")
    return settings


def estimate_motion(image, method: str = "motionnet", device="auto",
                    passes: int = DEFAULT_PASSES, check: bool = True, *,
                    settings: EstimationSettings | None = None) -> MotionField:
    """Estimate the per-pixel linear motion blur of an image.

    Parameters
    ----------
    image : array_like or dask.array.Array, (H, W) or (H, W, C)
        Blurred image: float in [0, 1] or an integer dtype (see the intensity rule of
        :func:`~napari_motion_deblur.deconvolution.deconvolve`). Colour images are converted
        to luminance; an alpha channel is ignored. A dask array gives a lazy result (see
        Returns).
    method : {"motionnet", "spectral"}
        ``"motionnet"``: the trained CNN (paper, Sec. 3.1). ``"spectral"``: a weight-free
        cepstral baseline, reliable for blur that is uniform over ~100-pixel regions.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``; Motion-Net only.
    passes : int
        Motion-Net only: test-time augmentation, 1 to 8 passes over quarter turns and mirrors
        of the image, averaged (see :func:`~napari_motion_deblur.estimation.motionnet.predict`).
        Each pass costs one network run (benchmarks/estimation_speed.py).
    check : bool
        Motion-Net only: refine the estimate where the cepstrum confirms it
        (:func:`~napari_motion_deblur.estimation.spectral.cepstral_check`), then with one
        camera motion where the pooled cepstra confirm it (``settings.camera``, default on;
        :mod:`~napari_motion_deblur.estimation.camera_model`).
    settings : EstimationSettings, optional
        All of the above in one validated object; when given, it replaces them.

    Returns
    -------
    MotionField
        Lengths in [0, 35] px and angles in [0, 180) degrees, the image's (H, W). For a dask
        image, a :class:`~napari_motion_deblur.motion.LazyMotionField`: its ``length`` and
        ``angle`` are dask arrays built with ``map_overlap`` over the tiles of the in-memory
        tiled estimate (``settings.tile`` px, default 1056, with its 192-px halo: the values
        equal ``estimate_motion(numpy_image, tile=...)``), computed where the caller likes
        (``field.compute()``, ``dask.compute`` or a ``dask.distributed`` client).
        ``deconvolve(dask_image, field)`` stays lazy. See
        :mod:`~napari_motion_deblur.estimation.lazy`.

    Raises
    ------
    ValueError
        For an unusable image (wrong shape or dtype, a stack, NaNs), an unknown method or a
        bad ``passes``. A dask image's dtype, shape and (integers) sign are checked before
        anything is computed; NaNs and out-of-range floats raise when their tile is computed.
    RuntimeError
        If the Motion-Net weights are missing or corrupt (the message says how to retrain).
    """
    config = _estimation_settings(settings, method=method, device=device, passes=passes,
                                  check=check)
    return estimate_with_confidence(image, settings=config).field


def estimate_with_confidence(image, method: str = "motionnet", device="auto",
                             passes: int = DEFAULT_PASSES, check: bool = True, *,
                             settings: EstimationSettings | None = None) -> MotionEstimate:
    """:func:`estimate_motion`, also returning where the cepstrum confirmed the estimate.

    The confidence is 0 everywhere for the spectral method and without ``check``. A dask
    image gives a lazy estimate (see :func:`estimate_motion`).
    """
    config = _estimation_settings(settings, method=method, device=device, passes=passes,
                                  check=check)
    if is_dask(image):
        from .lazy import estimate_lazy

        field, confidence = estimate_lazy(image, config, ESTIMATION_ALIGN)
        return MotionEstimate(field, confidence)
    *_, last = iter_estimate(image, settings=config)
    return last.estimate


@dataclass(frozen=True)
class EstimationProgress:
    """One update from :func:`iter_estimate`: ``step`` of ``steps`` done (``what`` was done).

    The last update (``step == steps``) carries the :class:`MotionEstimate`; the others ``None``.
    """

    step: int
    steps: int
    what: str
    estimate: MotionEstimate | None = None


def iter_estimate(image, *, settings: EstimationSettings | None = None
                  ) -> Generator[EstimationProgress, None, MotionEstimate]:
    """:func:`estimate_with_confidence` step by step: one update per Motion-Net pass, one for
    the cepstral check (the spectral method: one step); per tile when the image is tiled
    (``settings.tile``).

    The input is validated before the first update. Closing the generator between updates
    stops the work (a GUI's Cancel). The return value (``StopIteration.value``) is the estimate
    of the last update. A dask image is computed into memory first (for a lazy estimate, call
    :func:`estimate_with_confidence`).
    """
    config = _estimation_settings(settings)
    _, lum = _luminance_of(image, "estimate_motion")
    tile = config.tile
    if tile == "auto":
        tile = auto_tile(lum.shape, 1, ESTIMATION_BYTES_PER_PIXEL, ESTIMATION_HALO,
                         config.memory_budget, ESTIMATION_ALIGN,
                         ESTIMATION_WHOLE_BYTES_PER_PIXEL)
    elif tile is not None and max(lum.shape) <= tile:
        tile = None
    if tile is None:
        estimate = yield from _plane_steps(lum, config)
        return estimate
    boxes = tile_boxes(lum.shape, tile, ESTIMATION_HALO, ESTIMATION_ALIGN)
    length, angle = np.zeros(lum.shape, np.float32), np.zeros(lum.shape, np.float32)
    confidence = np.zeros(lum.shape, np.float32)
    for k, box in enumerate(boxes):
        for progress in _plane_steps(np.ascontiguousarray(lum[box.outer]), config):
            done = k * progress.steps + progress.step
            if progress.estimate is not None:
                part = progress.estimate
                length[box.target] = part.field.length[box.inner]
                angle[box.target] = part.field.angle[box.inner]
                confidence[box.target] = part.confidence[box.inner]
            if done < len(boxes) * progress.steps:
                yield EstimationProgress(done, len(boxes) * progress.steps,
                                         f"tile {k + 1}/{len(boxes)}: {progress.what}")
    estimate = MotionEstimate(MotionField(length, angle), confidence)
    yield EstimationProgress(len(boxes) * progress.steps, len(boxes) * progress.steps,
                             f"tile {len(boxes)}/{len(boxes)}: {progress.what}", estimate)
    return estimate


def _plane_steps(lum: np.ndarray, config: EstimationSettings):
    """The estimate of one luminance image, step by step (see :func:`iter_estimate`)."""
    unconfirmed = np.zeros(lum.shape, np.float32)
    if config.method == "spectral":
        estimate = MotionEstimate(spectral_motion(lum), unconfirmed)
        yield EstimationProgress(1, 1, "cepstral estimate", estimate)
        return estimate
    steps = int(config.passes) + int(config.check)
    dev = resolve_device(config.device)
    passes = iter_predict(get_motionnet(dev), lum, dev, passes=int(config.passes))
    while True:
        try:
            done = next(passes)
        except StopIteration as finished:
            field = finished.value
            break
        if done < steps:
            yield EstimationProgress(done, steps, f"Motion-Net pass {done}/{config.passes}")
    if not config.check:
        estimate = MotionEstimate(field, unconfirmed)
        yield EstimationProgress(steps, steps, f"Motion-Net pass {steps}/{config.passes}",
                                 estimate)
        return estimate
    cepstra = patch_cepstra(lum)
    field, confidence = cepstral_check(lum, field, cepstra=cepstra)
    fit = None
    if config.camera:
        field, confidence, fit = camera_check(
            lum, field, confidence, cepstra=cepstra,
            downscales=DOWNSCALES if config.camera_coarse else (1,),
            wide_scales=WIDE_SCALES if config.camera_wide else None,
            **({} if config.camera_fine else SINGLE_PATCH))
    estimate = MotionEstimate(field, confidence, fit)
    yield EstimationProgress(steps, steps, "cepstral check and camera model" if config.camera
                             else "cepstral check", estimate)
    return estimate


_DEFAULT_BLIND = DeblurSettings()


def deblur(image, method: str = "motionnet", stages: int = 5, iterations: int = 2,
           device="auto", passes: int = DEFAULT_PASSES,
           length_scale: float = _DEFAULT_BLIND.length_scale,
           regularization: float | str = _DEFAULT_BLIND.deconvolution.regularization, *,
           saturation: float | None = _DEFAULT_BLIND.deconvolution.saturation,
           refine: bool = _DEFAULT_BLIND.deconvolution.refine,
           linear_light: bool = _DEFAULT_BLIND.deconvolution.linear_light,
           settings: DeblurSettings | None = None) -> tuple[np.ndarray, MotionField]:
    """Blind deblurring: estimate the motion field, then deconvolve with IRC-Net.

    Parameters
    ----------
    image : array_like or dask.array.Array, (H, W) or (H, W, C)
        Blurred image (see :func:`estimate_motion`); colour is deconvolved per channel. A
        dask array gives a lazy result and a lazy field (nothing is computed but what
        ``regularization="auto"`` measures, see
        :func:`~napari_motion_deblur.deconvolution.deconvolve`).
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
        the default is cautious. Use 1 to deconvolve with the estimate as it is.
    regularization : float or "auto"
        IRC-Net's TV weight; ``"auto"`` (default) sets it from the image's measured noise
        level, starting from twice the non-blind default (robustness to estimation errors)
        where the cepstrum confirms nothing and from the non-blind default where it confirms
        the whole estimate, linearly in the mean confidence between (see
        :meth:`~napari_motion_deblur.settings.DeblurSettings.deconvolution_for`; a dask image
        starts from twice the default).
    saturation : float, optional
        Observed values at or above this level count as clipped highlights and are left out of
        the data term (see :func:`~napari_motion_deblur.deconvolution.deconvolve`).
    refine : bool
        Pass the deconvolved image through the learned refiner
        (:mod:`~napari_motion_deblur.solvers.refiner`, trained on this chain's results), which
        removes most of the ringing and amplified noise that the estimate's errors leave. It
        is worth +0.5 dB on photographs through a camera pipeline but costs ~0.4 dB on clean,
        linear data (simulations, linear microscopy): use False there.
    linear_light : bool
        The image is an sRGB-encoded photograph (a JPEG): deconvolve in linear light, where its
        blur happened (see :class:`~napari_motion_deblur.settings.DeconvolutionSettings`),
        refined by the photo refiner trained on such results. The motion is estimated on the
        image as it is. Leave it off for linear data.
    settings : DeblurSettings, optional
        All of the above in one validated object; when given, it replaces them.

    Returns
    -------
    result : numpy.ndarray or dask.array.Array
        float32 in [0, 1], the image's shape.
    field : MotionField or LazyMotionField
        The motion used for the deconvolution (see :meth:`MotionEstimate.for_deblurring`).
    """
    if settings is None:  # validated here, before the estimation
        settings = DeblurSettings(
            estimation=EstimationSettings(method=method, passes=passes, device=device),
            deconvolution=_DEFAULT_BLIND.deconvolution.replace(
                stages=stages, iterations=iterations, regularization=regularization,
                saturation=saturation, device=device, refine=refine,
                linear_light=linear_light),
            length_scale=length_scale)
    elif not isinstance(settings, DeblurSettings):
        raise ValueError(f"settings must be a DeblurSettings, got {type(settings).__name__}")
    estimate = estimate_with_confidence(image, settings=settings.estimation)
    field = estimate.for_deblurring(settings.length_scale)
    config = settings.deconvolution_for(estimate.confidence)  # lazy: nothing confirmed
    return deconvolve(image, field, settings=config), field
