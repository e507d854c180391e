"""Input checking shared by the public functions: clear errors, no mutation of caller data."""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .motion import MAX_LENGTH, LazyMotionField, MotionField

#: Smallest image side accepted (a deconvolution needs some context around each pixel).
MIN_SIDE = 4
#: Largest PSF side accepted.
MAX_PSF_SIDE = 127
_FLOAT_SLACK = 0.5
_PSF_NEGATIVE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Layout:
    """How to give a result back the caller's layout: 2-D or channels-last."""

    ndim: int


def is_finite_number(value) -> bool:
    """True for a finite real number (bools, strings and arrays are not numbers here)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def is_count(value, low: int, high: int) -> bool:
    """True for an integer (not a bool) in ``low..high``."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
            and low <= value <= high)


#: Views the refiner can average (see :func:`~napari_motion_deblur.solvers.refiner.refine`).
REFINER_VIEWS = (1, 2, 4, 8)


def check_refiner_views(views) -> int:
    """``views`` if it is one of :data:`REFINER_VIEWS`, else a ValueError."""
    if not (is_count(views, 1, max(REFINER_VIEWS)) and views in REFINER_VIEWS):
        raise ValueError(f"refiner views must be one of {REFINER_VIEWS}, got {views!r}")
    return int(views)


def check_refiner_strength(strength) -> float:
    """``strength`` as a float if it is a number in [0, 1], else a ValueError."""
    if not (is_finite_number(strength) and 0.0 <= strength <= 1.0):
        raise ValueError(f"refiner strength must be a number in [0, 1], got {strength!r}")
    return float(strength)


def device_name(device) -> str:
    """Normalize a device name (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a
    ``torch.device``) without touching CUDA; anything else raises ``ValueError``."""
    name = (str(device).strip().lower()
            if isinstance(device, str) or type(device).__name__ == "device" else None)
    if name in ("auto", "cpu", "cuda") or (name and name.startswith("cuda:")
                                          and name[5:].isdigit()):
        return name
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")


def torch_device(device) -> str:
    """The device to run on: :func:`device_name`, with ``"auto"`` resolved (CUDA when
    present) and CUDA asked for but absent replaced by the CPU, with a warning."""
    import torch

    name = device_name(device)
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        warnings.warn("CUDA was requested but is not available; running on the CPU.",
                      UserWarning, stacklevel=3)
        return "cpu"
    return name


def is_dask(array) -> bool:
    """Whether ``array`` is a dask array (checked without importing dask)."""
    return type(array).__module__.split(".")[0] == "dask"


def check_image_layout(shape, dtype) -> None:
    """The checks of :func:`as_float_image` that need no pixel values: the dtype, the (H, W) or
    (H, W, C) layout with 1-4 channels and the smallest side. A lazy (dask) image is checked
    with them before anything is computed; raises ``ValueError``."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or not (np.issubdtype(dtype, np.integer)
                             or np.issubdtype(dtype, np.floating)):
        raise ValueError(f"image dtype {dtype} is not supported; pass a float array in "
                         "[0, 1] or an integer array (uint8, uint16, ...).")
    shape = tuple(shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and not 1 <= shape[2] <= 4):
        raise ValueError(f"image must be (H, W) gray or (H, W, C) with 1-4 channels last; got "
                         f"shape {shape}. For stacks, deconvolve each 2-D slice.")
    if shape[0] < MIN_SIDE or shape[1] < MIN_SIDE:
        raise ValueError(f"image is too small ({shape[0]}x{shape[1]}); both sides "
                         f"must be at least {MIN_SIDE} pixels.")


def as_float_image(image) -> tuple[np.ndarray, Layout]:
    """Validate an image and return a new float32 (H, W, C) array in [0, 1] units.

    Accepts (H, W) or (H, W, C) with C in 1..4. Floats are expected in [0, 1] (finite). Integer
    images are divided by :func:`integer_scale`: uint8 and uint16 by their dtype range (255,
    65535), other integer dtypes by 255 or 65535, the first that holds their largest value (an
    8- or 16-bit image stored in a wider type means the same), or by that value itself above
    65535; negative values raise. Raises ``ValueError`` for anything else.
    """
    source, layout = float_source(image)
    return source[...], layout


@dataclass(frozen=True)
class FloatSource:
    """A validated image, read as float32 in [0, 1] units box by box (:func:`float_source`).

    ``raw`` is the caller's (H, W, C) data (a view, never written), ``scale`` what it is divided
    by (1 for floats). Indexing returns a new float32 array: a tiled run reads each tile when it
    needs it instead of holding a float copy of the whole image. ``transform``, if given, maps
    those [0, 1] values further (e.g. to linear light) as they are read.
    """

    raw: np.ndarray
    scale: float
    transform: Callable[[np.ndarray], np.ndarray] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    def __getitem__(self, key) -> np.ndarray:
        return self.values(self.raw[key])

    def values(self, raw) -> np.ndarray:
        """Some of ``raw``'s data as float32 [0, 1] units, transformed (a new array)."""
        out = np.array(raw, dtype=np.float32, copy=True)
        if self.scale != 1.0:
            out /= np.float32(self.scale)  # in place: no second temporary
        if self.transform is not None:
            out = np.asarray(self.transform(out), dtype=np.float32)
        return out

    def transformed(self, transform: Callable[[np.ndarray], np.ndarray] | None) -> FloatSource:
        """The same data read through ``transform`` (None: as it is)."""
        return FloatSource(self.raw, self.scale, transform)


def float_source(image) -> tuple[FloatSource, Layout]:
    """Validate an image as :func:`as_float_image` does, without copying it."""
    if isinstance(image, MotionField) or image is None:
        raise ValueError(f"expected an image array, got {type(image).__name__}")
    try:
        array = np.asarray(image)
    except Exception as err:  # pragma: no cover - exotic array-likes
        raise ValueError(f"cannot read the image as an array ({err})") from err
    check_image_layout(array.shape, array.dtype)
    if np.issubdtype(array.dtype, np.integer):
        scale = float(integer_scale(array))
    else:
        scale = 1.0
        if not np.isfinite(array).all():
            raise ValueError("image holds NaN or infinite values; replace them before deblurring.")
        lo, hi = float(array.min()), float(array.max())
        if lo < -_FLOAT_SLACK or hi > 1.0 + _FLOAT_SLACK:
            raise ValueError(f"float images must hold intensities in [0, 1]; got [{lo:.4g}, "
                             f"{hi:.4g}]. Divide by the data range (or pass the integer array).")
    layout = Layout(array.ndim)
    return FloatSource(array[..., None] if array.ndim == 2 else array, scale), layout


def integer_scale(array: np.ndarray) -> float:
    """The value that maps an integer image to [0, 1] (see :func:`as_float_image`).

    Parameters
    ----------
    array : numpy.ndarray or dask.array.Array
        An integer image (not bool). A dask image is read (its minimum and maximum, in one
        pass) only for the dtypes whose rule needs its values.

    Returns
    -------
    float
        255 or 65535 for uint8 and uint16; for other integer dtypes 255 if every value is at most
        255, else 65535 if every value is at most 65535, else the largest value.

    Raises
    ------
    ValueError
        If the image holds negative values (an intensity image cannot; shift it first).
    """
    dtype = np.dtype(array.dtype)
    if dtype in (np.uint8, np.uint16):
        return float(np.iinfo(dtype).max)
    lo = hi = 0
    if array.size:
        extremes = (array.min(), array.max())
        if is_dask(array):
            import dask

            extremes = dask.compute(*extremes)
        lo, hi = (int(v) for v in extremes)
    if lo < 0:
        raise ValueError(f"integer image ({dtype}) holds negative values (min {lo}); intensities "
                         "must be >= 0. Shift or rescale it (e.g. to float in [0, 1]) first.")
    for top in (255, 65535):
        if hi <= top:
            return float(top)
    return float(hi)


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W, C) float image in [0, 1] -> (H, W) luminance (Rec. 601; alpha ignored)."""
    if image.shape[-1] >= 3:
        return (image[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.float32)
    return image[..., 0].astype(np.float32)


def restore_layout(result: np.ndarray, layout: Layout) -> np.ndarray:
    """(H, W, C) float32 -> the caller's layout."""
    return result[..., 0] if layout.ndim == 2 else result


def check_motion_or_psf(motion_or_psf, shape: tuple[int, int], lazy: bool = False):
    """Return a :class:`MotionField` matching ``shape`` or a normalized float32 PSF.

    A ``(length, angle)`` pair means a uniform field; a 2-D array means a PSF. A
    :class:`~napari_motion_deblur.motion.LazyMotionField` is computed, unless ``lazy`` (a lazy
    caller): then only its shape is checked (its lengths are clipped where it is computed).
    """
    if isinstance(motion_or_psf, MotionField) and motion_or_psf.shape != tuple(shape):
        raise ValueError(f"motion field shape {motion_or_psf.shape} does not match the image "
                         f"(H, W) = {tuple(shape)}.")
    if isinstance(motion_or_psf, LazyMotionField):
        if lazy:
            return motion_or_psf
        motion_or_psf = motion_or_psf.compute()
    if isinstance(motion_or_psf, MotionField):
        if float(motion_or_psf.length.max()) > MAX_LENGTH:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clipped = motion_or_psf.clipped()
            warnings.warn(f"motion longer than {MAX_LENGTH:g} px (max "
                          f"{float(motion_or_psf.length.max()):.1f}) was clipped to "
                          f"{MAX_LENGTH:g} px, the longest streak the kernel bank holds.",
                          UserWarning, stacklevel=3)
            return clipped
        return motion_or_psf
    if isinstance(motion_or_psf, tuple) and len(motion_or_psf) == 2 and all(
            np.isscalar(v) for v in motion_or_psf):
        return check_motion_or_psf(MotionField.uniform(shape, *map(float, motion_or_psf)), shape)
    return check_psf(motion_or_psf)


def check_psf(psf) -> np.ndarray:
    """Validate a PSF: 2-D, finite, >= 0, summing to a positive number; returns it normalized.

    Negative taps down to ``-1e-6`` of the largest magnitude (rounding noise of a computed PSF)
    are set to 0; larger ones raise ``ValueError``.
    """
    try:
        array = np.array(psf, dtype=np.float64, copy=True)
    except (TypeError, ValueError) as err:
        raise ValueError("motion_or_psf must be a MotionField, a (length, angle) pair or a 2-D "
                         f"PSF array ({err}).") from err
    if array.ndim != 2 or array.size == 0:
        raise ValueError("a PSF must be a non-empty 2-D array; got shape "
                         f"{array.shape}. (Pass a MotionField for per-pixel motion.)")
    if max(array.shape) > MAX_PSF_SIDE:
        raise ValueError(f"PSF of shape {array.shape} is larger than {MAX_PSF_SIDE} px.")
    if not np.isfinite(array).all():
        raise ValueError("PSF holds NaN or infinite values.")
    peak = float(np.abs(array).max())
    if float(array.min()) < -_PSF_NEGATIVE_TOLERANCE * peak:
        raise ValueError(f"PSF has negative taps (min {float(array.min()):.4g}); a blur PSF must "
                         "be >= 0 everywhere (clip or re-measure it).")
    array = np.maximum(array, 0.0)
    total = float(array.sum())
    if not total > 0:
        raise ValueError(f"PSF must sum to a positive number (it sums to {total:.4g}).")
    return (array / total).astype(np.float32)
