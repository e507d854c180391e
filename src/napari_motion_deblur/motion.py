"""The per-pixel linear motion model.

Convention (the project's public contract): at every pixel the blur is a straight streak of
``length`` pixels (its full extent; ``length <= 1`` means no blur) at ``angle`` degrees in
[0, 180), counter-clockwise from the +column axis as displayed, rows pointing down. The streak
direction in (row, col) is ``(-sin(angle), cos(angle))``; a streak has no sign.
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

#: The longest streak the kernel bank represents (paper, Section 2.2).
MAX_LENGTH = 35.0
#: Most pixels of a field read from a file or rebuilt from vectors (~11600^2; 2 float32 arrays
#: of 0.5 GB each): a small compressed file must not be able to ask for tens of GB.
MAX_FIELD_PIXELS = 2**27


def field_too_large(shape) -> bool:
    """Whether a field of ``shape`` would have more than :data:`MAX_FIELD_PIXELS` pixels."""
    return int(np.prod([int(n) for n in shape])) > MAX_FIELD_PIXELS


def check_field_shape(shape, what: str = "motion field") -> None:
    """Raise ``ValueError`` unless ``shape`` is (H, W) with at most :data:`MAX_FIELD_PIXELS`."""
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"{what}: expected a non-empty (H, W) shape, got {tuple(shape)}")
    if field_too_large(shape):
        raise ValueError(f"{what}: {shape[0]} x {shape[1]} px is larger than the "
                         f"{MAX_FIELD_PIXELS} pixels a field may have")


def npz_array_shape(path, key: str) -> tuple:
    """The declared shape of an ``.npz`` member, read from its header (nothing decompressed)."""
    with zipfile.ZipFile(path) as zf:
        with zf.open(f"{key}.npy") as member:
            version = np.lib.format.read_magic(member)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            shape, _, _ = reader(member)
    return shape


def doubled_angle(angle, weight=1.0) -> tuple[np.ndarray, np.ndarray]:
    """``weight * (cos 2a, sin 2a)`` (float64) of angles ``a`` in degrees.

    Streak orientations are averaged, blended and interpolated in this doubled-angle space:
    it has no sign, so 179 and 1 degrees are neighbours and average to 0, not 90.
    """
    rad = np.radians(2.0 * np.asarray(angle, dtype=np.float64))
    return weight * np.cos(rad), weight * np.sin(rad)


def undoubled_angle(cos2, sin2) -> np.ndarray:
    """The angle in degrees (in (-90, 90]; any value is a valid MotionField angle) of
    doubled-angle components ``(cos 2a, sin 2a)``, which need not be normalized."""
    return np.degrees(np.arctan2(sin2, cos2)) / 2.0


class MotionField:
    """A dense linear-motion field: one (length, angle) pair per pixel.

    Parameters
    ----------
    length : array_like, shape (H, W)
        Full streak extent in pixels, ``>= 0``; values ``<= 1`` mean no blur.
    angle : array_like, shape (H, W)
        Streak orientation in degrees, counter-clockwise from the +column axis as displayed.
        Any finite value is accepted and wrapped into [0, 180).

    Raises
    ------
    ValueError
        If the arrays are not 2-D, differ in shape, are empty, hold non-finite values, or
        ``length`` is negative.

    Notes
    -----
    The arrays are copied into float32; the caller's arrays are never modified.
    """

    def __init__(self, length, angle):
        length = _as_2d_float(length, "length")
        angle = _as_2d_float(angle, "angle")
        if length.shape != angle.shape:
            raise ValueError(
                f"MotionField: length has shape {length.shape} but angle has shape "
                f"{angle.shape}; both must be the same (H, W)."
            )
        if (length < 0).any():
            raise ValueError(
                "MotionField: length must be >= 0 pixels (found "
                f"{float(length.min()):.3g}); a streak's extent cannot be negative."
            )
        self._length = length
        # In place: ``angle`` is already this field's own float32 copy (a large field would
        # otherwise pass through two more temporary copies).
        self._angle = np.mod(angle, np.float32(180.0), out=angle)
        # np.mod can return exactly 180.0 for tiny negative inputs in float32.
        self._angle[self._angle >= 180.0] = 0.0
        self._length.setflags(write=False)
        self._angle.setflags(write=False)

    # ------------------------------------------------------------------ accessors
    @property
    def length(self) -> np.ndarray:
        """Streak extent in pixels, float32 (H, W), read-only."""
        return self._length

    @property
    def angle(self) -> np.ndarray:
        """Streak angle in degrees in [0, 180), float32 (H, W), read-only."""
        return self._angle

    @property
    def shape(self) -> tuple[int, int]:
        """The (H, W) shape of the field."""
        return self._length.shape

    def __repr__(self) -> str:
        return (
            f"MotionField(shape={self.shape}, length=[{self._length.min():.3g}, "
            f"{self._length.max():.3g}] px)"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, MotionField):
            return NotImplemented
        return np.array_equal(self._length, other._length) and np.array_equal(
            self._angle, other._angle
        )

    # --------------------------------------------------------------- constructors
    @classmethod
    def uniform(cls, shape: tuple[int, int], length: float, angle: float) -> MotionField:
        """Return a field with the same streak at every pixel.

        Parameters
        ----------
        shape : tuple of int
            The (H, W) shape.
        length : float
            Streak extent in pixels.
        angle : float
            Streak angle in degrees.
        """
        if len(shape) != 2:
            raise ValueError(f"MotionField.uniform: shape must be (H, W), got {shape!r}.")
        return cls(np.full(shape, length, np.float32), np.full(shape, angle, np.float32))

    @classmethod
    def from_vectors(cls, drow, dcol) -> MotionField:
        """Build a field from streak vectors spanning the full streak.

        Parameters
        ----------
        drow, dcol : array_like, shape (H, W)
            Row and column components of a vector of length ``length`` along the streak. The
            sign is irrelevant: ``(drow, dcol)`` and ``(-drow, -dcol)`` give the same field.
        """
        drow = _as_2d_float(drow, "drow")
        dcol = _as_2d_float(dcol, "dcol")
        if drow.shape != dcol.shape:
            raise ValueError(
                f"MotionField.from_vectors: drow {drow.shape} and dcol {dcol.shape} differ."
            )
        length = np.hypot(drow, dcol)
        angle = np.degrees(np.arctan2(-drow, dcol))
        return cls(length, angle)

    def to_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the streak vectors ``(drow, dcol) = length * (-sin a, cos a)``."""
        rad = np.radians(self._angle)
        return -self._length * np.sin(rad), self._length * np.cos(rad)

    def rot90(self, k: int = 1) -> MotionField:
        """The field of ``np.rot90(image, k)``: ``k`` counter-clockwise quarter turns as displayed.

        The arrays turn with the image and every streak turns with it: ``a -> a + 90 k``.
        """
        k %= 4
        return MotionField(np.rot90(self._length, k), np.rot90(self._angle, k) + 90.0 * k)

    def fliplr(self) -> MotionField:
        """The field of ``image[:, ::-1]`` (a left-right mirror maps ``a -> 180 - a``)."""
        return MotionField(self._length[:, ::-1], 180.0 - self._angle[:, ::-1])

    def clipped(self, max_length: float = MAX_LENGTH, *, warn: bool = True) -> MotionField:
        """Return a copy whose lengths are clipped to ``max_length``, warning if any were.

        Lengths beyond the kernel bank (35 px) cannot be represented; deconvolution clips
        them and says so rather than extrapolating silently.
        """
        too_long = self._length > max_length
        if not too_long.any():
            return self
        if warn:
            warnings.warn(
                f"{int(too_long.sum())} pixel(s) have motion longer than {max_length:g} px "
                f"(max {float(self._length.max()):.1f}); clipped to {max_length:g} px, the "
                "longest streak the kernel bank represents.",
                UserWarning,
                stacklevel=2,
            )
        return MotionField(np.minimum(self._length, max_length), self._angle)

    # ------------------------------------------------------------------------- io
    def save(self, path: str | os.PathLike) -> Path:
        """Save as ``.npz`` with float32 arrays ``length`` and ``angle``; return the path.

        The file is written to a temporary name and renamed at the end: an existing file is
        replaced only by a complete one.
        """
        from ._atomic import atomic_path

        path = Path(path)
        if path.suffix.lower() != ".npz":
            path = path.with_name(path.name + ".npz")
        with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, length=self._length, angle=self._angle)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> MotionField:
        """Load a field saved by :meth:`save` (an ``.npz`` with ``length`` and ``angle``)."""
        try:
            data = np.load(path, allow_pickle=False)
        except (OSError, EOFError, ValueError) as err:
            raise ValueError(f"{path}: cannot be read as a motion-field .npz ({err}).") from err
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: not an .npz archive; expected arrays 'length' and 'angle'.")
        with data:
            missing = {"length", "angle"} - set(data.files)
            if missing:
                raise ValueError(
                    f"{path}: not a motion field, missing array(s) {sorted(missing)}; "
                    "expected an .npz with arrays 'length' and 'angle'."
                )
            try:
                for key in ("length", "angle"):  # before anything is decompressed
                    check_field_shape(npz_array_shape(path, key), f"{path}: {key}")
                return cls(data["length"], data["angle"])
            except (OSError, EOFError, KeyError, zlib.error, zipfile.BadZipFile) as err:
                raise ValueError(f"{path}: a damaged motion-field archive ({err}).") from err


class LazyMotionField(MotionField):
    """A :class:`MotionField` whose ``length`` and ``angle`` are dask arrays, computed on demand.

    :func:`~napari_motion_deblur.estimate_motion` returns one for a dask image. Call
    :meth:`compute` for the in-memory :class:`MotionField` (on the current dask scheduler, a
    ``dask.distributed`` client included). :func:`~napari_motion_deblur.deconvolve` of a dask
    image with it stays lazy; with an in-memory image it computes the field first.

    Parameters
    ----------
    length, angle : dask.array.Array or array_like, shape (H, W)
        As for :class:`MotionField`. Only the shapes and dtypes are checked here; the values
        are checked where they are computed (:meth:`compute` raises ``ValueError`` as
        :class:`MotionField` does).

    Raises
    ------
    ValueError
        If the arrays are not 2-D real numbers of one non-empty shape.

    Notes
    -----
    ``length``, ``angle`` and :meth:`to_vectors` are dask arrays; :meth:`rot90`,
    :meth:`fliplr` and :meth:`clipped` return lazy fields (:meth:`clipped` without its
    warning, which would need the values); ``==`` and :meth:`save` compute the field.
    """

    def __init__(self, length, angle):
        import dask.array as da

        length, angle = da.asarray(length), da.asarray(angle)
        for name, values in (("length", length), ("angle", angle)):
            if values.ndim != 2 or 0 in values.shape:
                raise ValueError(f"LazyMotionField: {name} must be a non-empty 2-D (H, W) "
                                 f"array, got shape {values.shape}.")
            if not (np.issubdtype(values.dtype, np.integer)
                    or np.issubdtype(values.dtype, np.floating)):
                raise ValueError(f"LazyMotionField: {name} must hold real numbers, got "
                                 f"{values.dtype}.")
        if length.shape != angle.shape:
            raise ValueError(f"LazyMotionField: length has shape {length.shape} but angle has "
                             f"shape {angle.shape}; both must be the same (H, W).")
        self._length = length.astype(np.float32)
        angle = da.mod(angle.astype(np.float32), np.float32(180.0))
        self._angle = da.where(angle >= 180.0, np.float32(0.0), angle)

    @property
    def length(self):
        """Streak extent in pixels: a float32 (H, W) dask array."""
        return self._length

    @property
    def angle(self):
        """Streak angle in degrees in [0, 180): a float32 (H, W) dask array."""
        return self._angle

    @property
    def shape(self) -> tuple[int, int]:
        """The (H, W) shape of the field."""
        return tuple(int(n) for n in self._length.shape)

    def compute(self, **kwargs) -> MotionField:
        """The in-memory :class:`MotionField` (``kwargs`` go to ``dask.compute``, e.g.
        ``scheduler="threads"``); length and angle are computed together, in one pass."""
        import dask

        length, angle = dask.compute(self._length, self._angle, **kwargs)
        return MotionField(length, angle)

    def persist(self, **kwargs) -> LazyMotionField:
        """The field with its arrays computed and kept by the scheduler (``dask.persist``)."""
        import dask

        return LazyMotionField(*dask.persist(self._length, self._angle, **kwargs))

    def __repr__(self) -> str:
        return f"LazyMotionField(shape={self.shape}, chunks={self._length.chunksize})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, MotionField):
            return NotImplemented
        other = other.compute() if isinstance(other, LazyMotionField) else other
        return self.compute() == other

    def rot90(self, k: int = 1) -> LazyMotionField:
        """As :meth:`MotionField.rot90`, lazily."""
        import dask.array as da

        k %= 4
        return LazyMotionField(da.rot90(self._length, k), da.rot90(self._angle, k) + 90.0 * k)

    def fliplr(self) -> LazyMotionField:
        """As :meth:`MotionField.fliplr`, lazily."""
        return LazyMotionField(self._length[:, ::-1], 180.0 - self._angle[:, ::-1])

    def clipped(self, max_length: float = MAX_LENGTH, *, warn: bool = True) -> LazyMotionField:
        """Lengths clipped to ``max_length``, lazily (no warning: that needs the values)."""
        import dask.array as da

        return LazyMotionField(da.minimum(self._length, np.float32(max_length)), self._angle)

    def save(self, path: str | os.PathLike) -> Path:
        """Compute the field and save it (see :meth:`MotionField.save`)."""
        return self.compute().save(path)


def _as_2d_float(values, name: str) -> np.ndarray:
    if np.iscomplexobj(values):
        raise ValueError(f"MotionField: {name} must be real numbers, got a complex array.")
    try:
        array = np.array(values, dtype=np.float32, copy=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"MotionField: {name} must be a numeric (H, W) array ({err}).") from err
    if array.ndim != 2:
        raise ValueError(f"MotionField: {name} must be 2-D (H, W), got shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"MotionField: {name} is empty (shape {array.shape}).")
    if not np.isfinite(array).all():
        raise ValueError(f"MotionField: {name} holds NaN or infinite values.")
    return array
