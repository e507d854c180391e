"""Image and motion-field files for scripts and the command line.

PNG, JPEG and TIFF (tifffile: any dtype, multi-page stacks) are read as a stack of planes
``(N, H, W[, C])`` and written back in the reader's dtype and intensity range, so a uint8 file
stays uint8 and a uint16 one uint16. Every write is atomic: a temporary file in the target's
folder, renamed into place when complete; an existing file is replaced only when asked.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from ._validation import check_psf, integer_scale
from .motion import MotionField

TIFF_SUFFIXES = (".tif", ".tiff")
PNG_SUFFIXES = (".png",)
JPEG_SUFFIXES = (".jpg", ".jpeg")
IMAGE_SUFFIXES = TIFF_SUFFIXES + PNG_SUFFIXES + JPEG_SUFFIXES

__all__ = ["IMAGE_SUFFIXES", "ImageFile", "atomic_path", "check_writable", "find_images",
           "load_fields", "read_image", "read_psf", "save_fields", "write_image"]


@dataclass
class ImageFile:
    """The planes of an image file and what is needed to write results back like it.

    Attributes
    ----------
    planes : numpy.ndarray, (N, H, W) or (N, H, W, C)
        The pixel data, N >= 1 planes (a single image has N = 1), in the file's dtype.
    shape : tuple of int
        The file's own array shape (without the plane axis for a single image); results are
        written back in this shape.
    colour : bool
        Whether the last axis holds channels (C = 1-4).
    tiff : dict
        TIFF resolution tags to write back (empty for other formats).
    """

    planes: np.ndarray
    shape: tuple[int, ...]
    colour: bool
    tiff: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Number of planes."""
        return len(self.planes)

    @property
    def scale(self) -> float:
        """The value that maps this file's intensities to [0, 1] (1 for float data)."""
        if np.issubdtype(self.planes.dtype, np.integer):
            return integer_scale(self.planes)
        return 1.0

    def units(self) -> Iterator[np.ndarray]:
        """Each plane as float32 in [0, 1] units (one scale for the whole file)."""
        scale = np.float32(self.scale)
        for plane in self.planes:
            yield plane.astype(np.float32) / scale

    def like_input(self, results: list[np.ndarray]) -> np.ndarray:
        """Planes of results (clipped to [0, 1]) back in the file's dtype, range and shape."""
        values = np.clip(np.stack(results).astype(np.float64), 0.0, 1.0)
        dtype = self.planes.dtype
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            values = np.clip(np.round(values * self.scale), info.min, info.max)
        return values.astype(dtype).reshape(self.shape)


def find_images(items: list[str | os.PathLike]) -> list[Path]:
    """Expand files, folders (their PNG/JPEG/TIFF files) and globs into a list of files.

    Order is kept (each folder and glob sorted by name), duplicates are dropped, hidden files
    (such as another run's temporary files) are skipped. Raises ``ValueError`` when a folder
    or glob holds no image. Plain file names are returned as given (:func:`read_image` checks
    them).
    """
    files: list[Path] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if _is_image(f))
            if not found:
                raise ValueError(f"{path}: no PNG, JPEG or TIFF files in this folder.")
        elif any(c in str(item) for c in "*?["):
            found = sorted(f for f in map(Path, glob.glob(str(item))) if _is_image(f))
            if not found:
                raise ValueError(f"{item}: matches no PNG, JPEG or TIFF files.")
        else:
            found = [path]
        files += [f for f in found if f not in files]
    return files


def _is_image(path: Path) -> bool:
    return (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
            and not path.name.startswith("."))


def read_image(path: str | os.PathLike) -> ImageFile:
    """Read a PNG, JPEG or TIFF file as planes.

    Parameters
    ----------
    path : path
        The file. TIFF pages (and any axes before the image's rows) become planes; a TIFF
        sample axis of 1-4 (RGB, RGBA, ...) and the channels of PNG/JPEG are colour.

    Returns
    -------
    ImageFile

    Raises
    ------
    ValueError
        For a missing, unsupported or unreadable file (the message names it).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported file type {path.suffix!r}; expected one of "
                         f"{', '.join(IMAGE_SUFFIXES)}.")
    if not path.is_file():
        raise ValueError(f"{path}: no such file.")
    try:
        if suffix in TIFF_SUFFIXES:
            return _read_tiff(path)
        import imageio.v3 as iio

        array = np.asarray(iio.imread(path))
    # Decoders raise many types for damaged files; all of them mean "cannot read this file".
    except Exception as err:
        raise ValueError(f"{path}: cannot be read as an image ({type(err).__name__}: "
                         f"{err}).") from err
    colour = array.ndim == 3
    if array.ndim not in (2, 3) or (colour and not 1 <= array.shape[-1] <= 4):
        raise ValueError(f"{path}: unexpected image shape {array.shape}.")
    return ImageFile(array[None], array.shape, colour)


def _read_tiff(path: Path) -> ImageFile:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        array, axes = np.asarray(series.asarray()), series.axes
        tags = tif.pages[0].tags
        tiff = {}
        if "XResolution" in tags and "YResolution" in tags:
            tiff["resolution"] = (tags["XResolution"].value, tags["YResolution"].value)
            if "ResolutionUnit" in tags:
                tiff["resolutionunit"] = int(tags["ResolutionUnit"].value)
    colour = "S" in axes and 1 <= array.shape[axes.index("S")] <= 4
    if colour:
        array = np.moveaxis(array, axes.index("S"), -1)
    elif "S" in axes:
        array = np.moveaxis(array, axes.index("S"), 0)  # many samples: one plane each
    core = 3 if colour else 2
    if array.ndim < core:
        raise ValueError(f"{path}: unexpected TIFF shape {array.shape} (axes {axes}).")
    planes = array.reshape((-1,) + array.shape[-core:])
    return ImageFile(planes, array.shape, colour, tiff)


def read_psf(path: str | os.PathLike) -> np.ndarray:
    """Read a PSF from an ``.npy`` file or a gray image file, checked and normalized.

    Parameters
    ----------
    path : path
        A 2-D ``.npy`` array, or a single-plane gray PNG, JPEG or TIFF.

    Returns
    -------
    numpy.ndarray, float32
        The PSF, non-negative, summing to 1.

    Raises
    ------
    ValueError
        For an unreadable file or an unusable PSF (see :func:`~._validation.check_psf`).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            raise ValueError(f"{path}: cannot be read as an .npy PSF ({err}).") from err
    else:
        image = read_image(path)
        if image.count > 1 or image.colour:
            raise ValueError(f"{path}: a PSF must be one gray image.")
        array = image.planes[0]
    try:
        return check_psf(array)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


def check_writable(path: str | os.PathLike, image: ImageFile) -> None:
    """Raise ``ValueError`` unless ``path``'s format can hold results shaped like ``image``.

    TIFF holds any dtype and stacks; PNG one uint8 or uint16 image (uint16 gray or gray +
    alpha only); JPEG one uint8 gray or RGB image.

    Parameters
    ----------
    path : path
        The file to write; its suffix picks the format.
    image : ImageFile
        The input the results are shaped like.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: cannot write {path.suffix!r} files; use one of "
                         f"{', '.join(IMAGE_SUFFIXES)}.")
    if suffix in TIFF_SUFFIXES:
        return
    dtype, channels = image.planes.dtype, image.planes.shape[-1] if image.colour else 1
    kind = "PNG" if suffix in PNG_SUFFIXES else "JPEG"
    if image.count > 1:
        raise ValueError(f"{path}: a {kind} holds one image, the input has {image.count} "
                         "planes; write a .tif instead.")
    allowed = ((np.uint8, np.uint16) if kind == "PNG" else (np.uint8,))
    if dtype not in allowed or (kind == "PNG" and dtype == np.uint16 and channels > 2) or (
            kind == "JPEG" and channels not in (1, 3)):
        raise ValueError(f"{path}: a {kind} cannot hold {dtype} images with {channels} "
                         "channel(s) without losing the intensity range; write a .tif instead.")


def write_image(path: str | os.PathLike, data: np.ndarray, image: ImageFile,
                overwrite: bool = False) -> Path:
    """Write results shaped and typed like ``image``; the file appears only when complete.

    Parameters
    ----------
    path : path
        The target file; its suffix picks the format (see :func:`check_writable`).
    data : numpy.ndarray
        The results, from :meth:`ImageFile.like_input`.
    image : ImageFile
        The input: its layout and TIFF resolution are written back.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is false (the existing file is left alone).
    ValueError
        If the format cannot hold the results.
    """
    path = Path(path)
    check_writable(path, image)
    with atomic_path(path, overwrite) as tmp:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            channels = data.shape[-1] if image.colour else 0
            photometric = "rgb" if channels in (3, 4) else "minisblack"
            extras = {"planarconfig": "contig"} if image.colour else {}
            tifffile.imwrite(tmp, data, photometric=photometric, **extras, **image.tiff)
        else:
            import imageio.v3 as iio

            plane = data[..., 0] if image.colour and data.shape[-1] == 1 else data
            options = {"quality": 95} if path.suffix.lower() in JPEG_SUFFIXES else {}
            iio.imwrite(tmp, plane, extension=path.suffix.lower(), **options)
    return path


def save_fields(path: str | os.PathLike, fields: list[MotionField],
                overwrite: bool = False) -> Path:
    """Save motion fields as an ``.npz`` with ``length`` and ``angle``, atomically.

    Parameters
    ----------
    path : path
        The target ``.npz``.
    fields : list of MotionField
        One field gives (H, W) arrays (what :meth:`MotionField.load` and the napari reader
        open); several, one per plane of a stack, give (N, H, W) arrays.
    overwrite : bool
        Replace an existing file (else ``FileExistsError``).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    length = np.stack([f.length for f in fields])
    angle = np.stack([f.angle for f in fields])
    if len(fields) == 1:
        length, angle = length[0], angle[0]
    path = Path(path)
    with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, length=length, angle=angle)
    return path


def load_fields(path: str | os.PathLike) -> list[MotionField]:
    """Load the fields saved by :func:`save_fields` (or by :meth:`MotionField.save`).

    Parameters
    ----------
    path : path
        An ``.npz`` with equal-shaped ``length`` and ``angle``, (H, W) or (N, H, W).

    Returns
    -------
    list of MotionField
        One field per plane.

    Raises
    ------
    ValueError
        For a missing, damaged or unsuitable file.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            length, angle = np.asarray(data["length"]), np.asarray(data["angle"])
    # As for images: truncated or altered archives raise many types (BadZipFile, zlib.error,
    # EOFError, KeyError, ...); each means "not a usable motion field".
    except Exception as err:
        raise ValueError(f"{path}: not a readable motion field .npz with arrays 'length' and "
                         f"'angle' ({type(err).__name__}: {err}).") from err
    if length.shape != angle.shape or length.ndim not in (2, 3):
        raise ValueError(f"{path}: 'length' {length.shape} and 'angle' {angle.shape} must be "
                         "equal (H, W) or (N, H, W) arrays.")
    if length.ndim == 2:
        return [MotionField(length, angle)]
    return [MotionField(lg, an) for lg, an in zip(length, angle)]
