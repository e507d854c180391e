"""npe2 reader and writer for motion fields (a ``.npz`` archive with ``length`` and ``angle``).

The writer's default extension is ``.motion`` (the same ``.npz`` archive under a name only this
plugin claims): napari's own reader also claims ``*.npz``, so opening a ``.npz`` without naming
a plugin is ambiguous (a dialog in the GUI), while a ``.motion`` file has exactly one reader and
opens as the Vectors layer. ``.npz`` files (``MotionField.save``) are still read and written.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..motion import (
    MAX_LENGTH,
    MotionField,
    check_field_shape,
    field_too_large,
    npz_array_shape,
)
from .field_editing import CONFIDENCE_KEY, FIELD_KEY, field_layer_data, vectors_to_field

#: Extension of saved fields; only this plugin reads it, so napari opens it unasked.
FIELD_EXTENSION = ".motion"
_EXTENSIONS = (FIELD_EXTENSION, ".npz")


def _is_motion_npz(path: str) -> bool:
    """Whether ``path`` is a readable archive holding ``length`` and ``angle`` (read through)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return False
    if not isinstance(data, np.lib.npyio.NpzFile):  # e.g. an .npy under the name
        return False
    try:
        with data:
            if not {"length", "angle"} <= set(data.files):
                return False
            for key in ("length", "angle"):
                if field_too_large(npz_array_shape(path, key)):
                    return True  # a field, too large: reading it says so
                data[key]  # decompress: catches corrupt members too
            return True
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error):
        return False


def get_reader(path):
    """npe2 reader hook: a reader for a motion-field file, or ``None`` for anything else.

    Parameters
    ----------
    path : str or list of str
        The path(s) napari asks about (``.motion`` or ``.npz``).

    Returns
    -------
    callable or None
        :func:`read_motion_field` when every path is a motion-field archive.
    """
    paths = [path] if isinstance(path, str) else list(path)
    if not paths or not all(str(p).endswith(_EXTENSIONS) and _is_motion_npz(str(p))
                            for p in paths):
        return None
    return read_motion_field


def read_motion_field(path) -> list[tuple]:
    """Read motion-field file(s) as Vectors LayerDataTuples (dense field in metadata)."""
    paths = [path] if isinstance(path, str) else list(path)
    layers = []
    for p in paths:
        with np.load(p, allow_pickle=False) as data:
            confidence = data["confidence"] if "confidence" in data.files else None
        layers.append(field_layer_data(MotionField.load(p), Path(p).stem,
                                       confidence=confidence))
    return layers


def layer_field(data, meta: dict) -> MotionField:
    """The dense field of a Vectors layer's data and metadata (the metadata's, when present)."""
    field = (meta.get("metadata") or {}).get(FIELD_KEY)
    if isinstance(field, MotionField):
        return field
    data = np.asarray(data)
    if data.ndim != 3 or len(data) == 0:
        raise ValueError("this Vectors layer holds no motion field to save")
    ends = np.concatenate([data[:, 0], data[:, 0] + data[:, 1]])
    if not np.isfinite(ends).all() or ends.min() < -MAX_LENGTH:  # streaks start half out
        raise ValueError("this Vectors layer's streaks lie outside any image (negative or "
                         "non-finite positions): no motion field to save")
    shape = tuple(int(np.ceil(v)) + 1 for v in ends.max(axis=0)[-2:])
    check_field_shape(shape, "the field these vectors span")
    return vectors_to_field(data[:, :, -2:], shape)


def write_motion_field(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer writer: save a motion Vectors layer (``length``, ``angle`` arrays).

    Parameters
    ----------
    path : str
        Destination, ``.motion`` (appended when the name has neither extension) or ``.npz``.
    data : numpy.ndarray
        The Vectors layer's data (used only when its metadata holds no dense field).
    meta : dict
        The layer's attributes (``metadata`` included; a confidence there is saved too).

    Returns
    -------
    list of str
        The written path.
    """
    field = layer_field(data, meta)
    path = Path(path)
    if not str(path).endswith(_EXTENSIONS):
        path = path.with_name(path.name + FIELD_EXTENSION)
    arrays = {"length": field.length, "angle": field.angle}
    confidence = (meta.get("metadata") or {}).get(CONFIDENCE_KEY)
    if confidence is not None:
        arrays["confidence"] = np.asarray(confidence, np.float32)
    # a file object: numpy appends no ".npz"; written whole, then renamed into place
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return [str(path)]


#: Key of a deblurred layer's record of what made it (``layer.metadata``).
RECORD_KEY = "deblurred_with"
#: Key of that record in the JSON a saved TIFF carries as its image description.
TIFF_RECORD_KEY = "napari-motion-deblur"


def write_deblurred_image(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer writer: an image layer as TIFF, with the record of what made it.

    The record (``metadata["deblurred_with"]``: input, motion source, stages, iterations,
    regularization, device, package version) is written as JSON in the TIFF's image
    description, so that the file keeps it; any other image is written as a plain TIFF.

    Parameters
    ----------
    path : str
        Destination; ``.tif`` is appended unless it ends in ``.tif`` or ``.tiff``.
    data : numpy.ndarray
        The image layer's data.
    meta : dict
        The layer's attributes (``rgb`` and ``metadata`` are used).

    Returns
    -------
    list of str
        The written path.
    """
    import json

    import tifffile

    path = Path(path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        path = path.with_name(path.name + ".tif")
    record = (meta.get("metadata") or {}).get(RECORD_KEY)
    description = json.dumps({TIFF_RECORD_KEY: record}) if record else None
    with atomic_path(path, overwrite=True) as tmp:
        tifffile.imwrite(tmp, np.asarray(data), photometric="rgb" if meta.get("rgb") else None,
                         description=description, metadata=None)
    return [str(path)]


def read_record(path) -> dict | None:
    """The deblurring record saved in a TIFF by :func:`write_deblurred_image`, or ``None``."""
    import json

    import tifffile

    with tifffile.TiffFile(path) as tif:
        description = tif.pages[0].description
    try:
        return json.loads(description).get(TIFF_RECORD_KEY)
    except (ValueError, AttributeError):
        return None
