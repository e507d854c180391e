"""Work run in napari thread workers: frozen parameter snapshots in, typed updates out.

Nothing here touches the viewer or a widget; handlers in the widgets apply the updates.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from ... import __version__
from ..._validation import integer_scale, is_dask
from ...deconvolution import iter_deconvolve, resolve_device
from ...estimation.api import iter_estimate
from ...motion import MotionField
from ...settings import DeconvolutionSettings, EstimationSettings


class IntensityMap:
    """Maps a layer's intensities to the [0, 1] range the core expects, and back.

    Integers follow the core's rule (:func:`~napari_motion_deblur._validation.integer_scale`:
    uint8/uint16 by their range, wider types by 255 or 65535 when their values fit, so a 16-bit
    image stored as int32 is not black; negative values are refused) and results keep the
    dtype; floats already in [0, 1] are left alone; other floats are scaled by their data range
    (the core refuses them; a layer's floats can be in any unit).

    ``data`` may be a dask array: only the range the rule needs is computed (nothing for
    uint8/uint16; else the minimum and maximum, in one pass), and :meth:`to_unit` of a dask
    plane stays lazy.
    """

    def __init__(self, data):
        self.dtype = np.dtype(data.dtype)
        if np.issubdtype(self.dtype, np.integer):
            self.offset, self.scale = 0.0, integer_scale(data)
        else:
            extremes = (np.min(data), np.max(data))
            if is_dask(data):
                import dask

                extremes = dask.compute(*extremes)
            lo, hi = (float(v) for v in extremes)
            if lo >= 0 and hi <= 1:
                self.offset, self.scale = 0.0, 1.0
            else:
                self.offset, self.scale = min(lo, 0.0), max(hi - min(lo, 0.0), 1e-12)
            if not np.issubdtype(self.dtype, np.floating):
                self.dtype = np.dtype(np.float32)

    def to_unit(self, plane) -> np.ndarray:
        """``plane`` as float32 in [0, 1] (a dask plane: lazily, computed where it is used)."""
        if is_dask(plane):
            return ((plane.astype(np.float32) - self.offset) / self.scale).astype(np.float32)
        return ((np.asarray(plane, dtype=np.float32) - self.offset) / self.scale).astype(np.float32)

    def from_unit(self, estimate: np.ndarray) -> np.ndarray:
        """A [0, 1] estimate back in the layer's intensity range and dtype."""
        values = estimate.astype(np.float64) * self.scale + self.offset
        if np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            return np.clip(np.round(values), info.min, info.max).astype(self.dtype)
        return values.astype(self.dtype)


@dataclass(frozen=True)
class DeblurJob:
    """Everything one deblur run needs, copied from the widget when Run is pressed.

    ``planes`` holds ``(index, plane)`` pairs: the index along the stack axes (``()`` for a
    single image) and a float32 (H, W[, C]) plane in [0, 1], in memory or a dask array (a
    lazy layer's stack: :func:`run_deblur` computes each plane when its turn comes, so one
    plane at a time is in memory and nothing is read in the GUI thread).
    """

    planes: tuple
    motion: object  # MotionField, (length, angle) or a 2-D PSF array
    settings: DeconvolutionSettings
    intensity: IntensityMap | None = None


@dataclass(frozen=True)
class DeblurUpdate:
    """The estimate of plane ``plane`` (of ``planes``) after stage ``stage`` of ``stages``.

    ``estimate`` is in [0, 1]; ``values`` is it in the layer's range and dtype, converted in the
    worker so that the GUI thread only has to show it (``None`` without a job intensity map).
    """

    index: tuple
    plane: int
    planes: int
    stage: int
    stages: int
    estimate: np.ndarray
    values: np.ndarray | None = None

    @property
    def done(self) -> int:
        """Stages completed over the whole job."""
        return self.plane * self.stages + self.stage

    @property
    def total(self) -> int:
        """Stages in the whole job."""
        return self.planes * self.stages


@dataclass(frozen=True)
class JobError:
    """A failure, carried to the GUI thread as a value (shown there as a notification)."""

    message: str


def run_deblur(job: DeblurJob) -> Generator[DeblurUpdate | JobError, None, int]:
    """Deconvolve every plane of ``job`` stage by stage; return the number of planes done.

    A failure is yielded as a :class:`JobError` (and the work stops) rather than raised, so the
    GUI shows a short notification instead of a traceback; reading a lazy plane may fail too.
    """
    for i, (index, plane) in enumerate(job.planes):
        try:
            plane = np.asarray(plane)  # a dask plane is computed here, in the worker
            for progress in iter_deconvolve(plane, job.motion, settings=job.settings):
                values = (None if job.intensity is None
                          else job.intensity.from_unit(progress.estimate))
                yield DeblurUpdate(tuple(index), i, len(job.planes), progress.stage,
                                   progress.stages, progress.estimate, values)
        except (ValueError, RuntimeError, MemoryError, OSError) as err:
            yield JobError(f"{type(err).__name__}: {err}")
            return i
    return len(job.planes)


@dataclass(frozen=True)
class EstimateJob:
    """One motion estimation: a plane (H, W[, C]) in [0, 1], in memory or a dask array (read
    by the worker), and the estimator's settings.

    The estimated lengths the cepstrum did not confirm are multiplied by ``length_scale`` (as
    :func:`~napari_motion_deblur.deblur` does).
    """

    plane: np.ndarray
    settings: EstimationSettings
    length_scale: float


@dataclass(frozen=True)
class EstimateUpdate:
    """Progress of an estimation: ``step`` of ``steps`` done, ``what`` was done."""

    step: int
    steps: int
    what: str


@dataclass(frozen=True)
class EstimateResult:
    """The field to deblur with (lengths already scaled) and the confidence to show, if any."""

    field: MotionField
    confidence: np.ndarray | None


def run_estimate(job: EstimateJob) -> Generator[EstimateUpdate | EstimateResult | JobError]:
    """Estimate the motion field of ``job.plane`` step by step; the last item is the result.

    Yields an :class:`EstimateUpdate` per Motion-Net pass (stopping the generator there is a
    Cancel), then the :class:`EstimateResult`, or a :class:`JobError` on failure. The
    confidence is kept only for Motion-Net (the spectral method has none: it is all 0).
    """
    try:
        plane = np.asarray(job.plane)  # a dask plane is computed here, in the worker
        for progress in iter_estimate(plane, settings=job.settings):
            if progress.estimate is None:
                yield EstimateUpdate(progress.step, progress.steps, progress.what)
                continue
            confidence = (progress.estimate.confidence if job.settings.method == "motionnet"
                          else None)
            yield EstimateResult(progress.estimate.for_deblurring(job.length_scale), confidence)
    except (ValueError, RuntimeError, MemoryError, OSError) as err:
        yield JobError(f"{type(err).__name__}: {err}")


def deblur_record(input_name: str, motion: str, settings: DeconvolutionSettings,
                  indices) -> dict:
    """What a Deblur result layer records of how it was made (its ``RECORD_KEY`` metadata):
    the input, the motion's origin, every setting, the device used and the planes."""
    return {"input": input_name, "motion": motion, "stages": settings.stages,
            "iterations": settings.iterations, "regularization": settings.regularization,
            "regularization_base": settings.base, "saturation": settings.saturation,
            "operator": settings.operator, "colour": settings.colour,
            "refine": settings.refine, "solver": settings.solver, "model": settings.model,
            "linear_light": settings.linear_light,
            "device": str(resolve_device(settings.device)),
            "slices": [list(map(int, i)) for i in indices],
            "package": f"napari-motion-deblur {__version__}"}
