"""npe2 reader and writer for motion fields (``.npz`` with arrays ``length`` and ``angle``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..motion import MotionField
from .field_editing import FIELD_KEY, field_layer_data, vectors_to_field


def _is_motion_npz(path: str) -> bool:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {"length", "angle"} <= set(data.files)
    except (OSError, ValueError, EOFError):
        return False


def get_reader(path):
    """npe2 reader hook: a reader for a motion-field ``.npz``, or ``None`` for anything else.

    Parameters
    ----------
    path : str or list of str
        The path(s) napari asks about.

    Returns
    -------
    callable or None
        :func:`read_motion_field` when every path is a motion-field ``.npz``.
    """
    paths = [path] if isinstance(path, str) else list(path)
    if not paths or not all(str(p).endswith(".npz") and _is_motion_npz(str(p)) for p in paths):
        return None
    return read_motion_field


def read_motion_field(path) -> list[tuple]:
    """Read motion-field ``.npz`` file(s) as Vectors LayerDataTuples (dense field in metadata)."""
    paths = [path] if isinstance(path, str) else list(path)
    return [field_layer_data(MotionField.load(p), Path(p).stem) for p in paths]


def layer_field(data, meta: dict) -> MotionField:
    """The dense field of a Vectors layer's data and metadata (the metadata's, when present)."""
    field = (meta.get("metadata") or {}).get(FIELD_KEY)
    if isinstance(field, MotionField):
        return field
    data = np.asarray(data)
    if data.ndim != 3 or len(data) == 0:
        raise ValueError("this Vectors layer holds no motion field to save")
    ends = np.concatenate([data[:, 0], data[:, 0] + data[:, 1]])
    shape = tuple(int(np.ceil(v)) + 1 for v in ends.max(axis=0)[-2:])
    return vectors_to_field(data[:, :, -2:], shape)


def write_motion_field(path: str, data, meta: dict) -> list[str]:
    """npe2 single-layer writer: save a motion Vectors layer as ``.npz`` (length, angle).

    Parameters
    ----------
    path : str
        Destination; ``.npz`` is appended when missing.
    data : numpy.ndarray
        The Vectors layer's data (used only when its metadata holds no dense field).
    meta : dict
        The layer's attributes (``metadata`` included).

    Returns
    -------
    list of str
        The written path.
    """
    return [str(layer_field(data, meta).save(path))]
