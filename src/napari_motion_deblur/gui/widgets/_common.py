"""Glue shared by the dock widgets: layer choices, planes, intensity ranges, field layers.

Touches napari layers but not Qt; the widgets stay thin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from napari.utils.notifications import show_error

from ...motion import MotionField
from ..field_editing import (
    FIELD_KEY,
    ORIGINAL_KEY,
    SPACING_KEY,
    default_spacing,
    field_layer_data,
    field_to_vectors,
    vectors_to_field,
)

if TYPE_CHECKING:
    import napari

DEVICES = ("auto", "cpu", "cuda")


def layer_choices(viewer: napari.viewer.Viewer, kind: str) -> Callable:
    """A magicgui ``choices`` callable listing the viewer's layers of ``kind`` by name.

    Visible layers come first, each group topmost first (as the layer list shows them).
    """

    def choices(_widget=None):
        layers = [ly for ly in reversed(viewer.layers) if type(ly).__name__.lower() == kind]
        layers.sort(key=lambda ly: not ly.visible)
        return [(ly.name, ly) for ly in layers]

    return choices


def resolve_device_name(name: str) -> tuple[str, str | None]:
    """Check a device choice in the GUI thread: ``(device, warning or None)``.

    CUDA asked for but absent becomes ``"cpu"`` with a warning message.
    """
    if name.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "cpu", "CUDA is not available on this machine; running on the CPU instead."
    return name, None


def spatial_ndim(layer) -> int:
    """Number of leading (stack) axes of an image layer, before (H, W[, C])."""
    return layer.ndim - 2


def current_index(layer, viewer) -> tuple[int, ...]:
    """The data index of the displayed plane along the layer's leading axes."""
    lead = spatial_ndim(layer)
    if lead <= 0:
        return ()
    coords = np.asarray(layer.world_to_data(viewer.dims.point))[:lead]
    shape = layer.data.shape[:lead]
    return tuple(int(np.clip(round(float(c)), 0, n - 1))
                 for c, n in zip(coords, shape, strict=True))


class IntensityMap:
    """Maps a layer's intensities to the [0, 1] range the core expects, and back.

    Unsigned integers use their dtype range (so results keep the dtype); floats already in
    [0, 1] are left alone; anything else is scaled by its data range.
    """

    def __init__(self, data):
        self.dtype = np.dtype(data.dtype)
        if np.issubdtype(self.dtype, np.unsignedinteger):
            self.offset, self.scale = 0.0, float(np.iinfo(self.dtype).max)
        else:
            lo, hi = float(np.min(data)), float(np.max(data))
            if lo >= 0 and hi <= 1:
                self.offset, self.scale = 0.0, 1.0
            else:
                self.offset, self.scale = min(lo, 0.0), max(hi - min(lo, 0.0), 1e-12)
            if not np.issubdtype(self.dtype, np.floating):
                self.dtype = np.dtype(np.float32)

    def to_unit(self, plane) -> np.ndarray:
        """``plane`` as float32 in [0, 1]."""
        return ((np.asarray(plane, dtype=np.float32) - self.offset) / self.scale).astype(np.float32)

    def from_unit(self, estimate: np.ndarray) -> np.ndarray:
        """A [0, 1] estimate back in the layer's intensity range and dtype."""
        values = estimate.astype(np.float64) * self.scale + self.offset
        if np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            return np.clip(np.round(values), info.min, info.max).astype(self.dtype)
        return values.astype(self.dtype)


def layer_field(layer, shape: tuple[int, int] | None = None) -> MotionField:
    """The dense field a motion Vectors layer carries (or one rebuilt from its vectors)."""
    field = layer.metadata.get(FIELD_KEY)
    if isinstance(field, MotionField):
        return field
    if shape is None:
        raise ValueError(f"layer {layer.name!r} holds no dense motion field")
    data = np.asarray(layer.data)[:, :, -2:]
    return vectors_to_field(data, shape)


def set_layer_field(layer, field: MotionField, spacing: int | None = None) -> None:
    """Show ``field`` in a motion Vectors layer: dense field, vectors and colours together."""
    spacing = int(spacing or layer.metadata.get(SPACING_KEY) or default_spacing(field.shape))
    data, features = field_to_vectors(field, spacing)
    layer.metadata[FIELD_KEY] = field
    layer.metadata[SPACING_KEY] = spacing
    layer.metadata.setdefault(ORIGINAL_KEY, field)
    layer.data = data
    layer.features = features
    layer.edge_contrast_limits = (0.0, max(float(layer.features["length"].max()), 2.0))
    layer.refresh_colors(update_color_mapping=False)


def show_field(viewer, field: MotionField, name: str, *, spacing: int | None = None,
               scale=None, translate=None, original: MotionField | None = None):
    """Add the Vectors layer ``name`` for ``field``, or update it if it exists; return it."""
    layer = find_layer(viewer, name)
    if layer is not None and type(layer).__name__ == "Vectors":
        if original is not None:
            layer.metadata[ORIGINAL_KEY] = original
        set_layer_field(layer, field, spacing)
        return layer
    kwargs = {}
    if scale is not None:
        kwargs.update(scale=tuple(scale), translate=tuple(translate))
    data, layer_kwargs, _ = field_layer_data(field, name, spacing, original=original, **kwargs)
    return viewer.add_vectors(data, **layer_kwargs)


def find_layer(viewer, name: str):
    """The viewer's layer called ``name``, or ``None``."""
    return next((layer for layer in viewer.layers if layer.name == name), None)


def plane_geometry(layer) -> dict:
    """Scale and translate of the layer's last two (spatial) axes."""
    return {"scale": tuple(layer.scale[-2:]), "translate": tuple(layer.translate[-2:])}


def snapshot_or_notify(widget, title: str):
    """``widget.snapshot()``, or ``None`` after a notification if it is running or invalid."""
    if widget.running:
        return None
    try:
        return widget.snapshot()
    except (ValueError, IndexError) as err:
        show_error(f"{title}: {err}")
        return None
