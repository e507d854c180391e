"""Glue shared by the dock widgets: layer choices, planes, intensity ranges, field layers.

Touches napari layers but not Qt; the widgets stay thin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from napari.utils.notifications import show_error, show_warning

from ..._validation import is_dask
from ...motion import MAX_LENGTH, MotionField
from ..field_editing import (
    CONFIDENCE_KEY,
    FIELD_KEY,
    GROUND_TRUTH,
    ORIGINAL_KEY,
    PREVIEW_SOURCE,
    SOURCE_KEY,
    SPACING_KEY,
    STREAK_SCALE_KEY,
    field_display,
    field_layer_data,
    vectors_to_field,
)
from ._jobs import IntensityMap  # noqa: F401  (re-exported: widgets import it from here)

if TYPE_CHECKING:
    import napari

DEVICES = ("auto", "cpu", "cuda")


def unwrap(layer):
    """The layer itself, not napari's ``PublicOnlyProxy`` that plugin widgets are handed."""
    return getattr(layer, "__wrapped__", layer)


def is_ground_truth(layer) -> bool:
    """Whether ``layer`` holds a sample's true motion (never chosen for the user)."""
    return layer.metadata.get(SOURCE_KEY) == GROUND_TRUTH


def is_followed(layer) -> bool:
    """Whether widgets switch to ``layer`` when it is selected: a whole-image motion field that
    is not a sample's ground truth (nor a preview region's estimate)."""
    return (is_motion_layer(layer)
            and layer.metadata.get(SOURCE_KEY) not in (GROUND_TRUTH, PREVIEW_SOURCE))


def is_motion_layer(layer) -> bool:
    """Whether ``layer`` is a Vectors layer carrying a dense motion field."""
    layer = unwrap(layer)
    return type(layer).__name__ == "Vectors" and isinstance(layer.metadata.get(FIELD_KEY),
                                                            MotionField)


def layer_choices(viewer: napari.viewer.Viewer, kind: str) -> Callable:
    """A magicgui ``choices`` callable listing the viewer's layers of ``kind`` by name.

    Visible layers come first, each group topmost first (as the layer list shows them); a
    sample's ground-truth motion and preview estimates come last.
    """

    def choices(_widget=None):
        layers = [unwrap(ly) for ly in reversed(viewer.layers)]
        layers = [ly for ly in layers if type(ly).__name__.lower() == kind]
        layers.sort(key=lambda ly: (is_motion_layer(ly) and not is_followed(ly), not ly.visible))
        return [(ly.name, ly) for ly in layers]

    return choices


def follow_motion_layers(viewer, combo, callback: Callable | None = None) -> Callable:
    """Make ``combo`` follow the motion layer the user selects or an estimate makes active.

    Ground-truth and preview layers are never picked this way, only from the combo box. Returns the
    connected handler (disconnect it from ``viewer.layers.selection.events.active``).
    """

    def on_active(event=None):
        layer = unwrap(viewer.layers.selection.active)
        if layer is None or not is_followed(layer):
            return
        combo.reset_choices()
        if layer is not combo.value:
            combo.value = layer
        if callback is not None:
            callback()

    emitter = viewer.layers.selection.events.active
    emitter.connect(on_active)
    combo.native.destroyed.connect(lambda *_: emitter.disconnect(on_active))
    return on_active


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


def read_planes(layer, indices) -> tuple[list, IntensityMap]:
    """The planes of ``layer`` at ``indices`` (raw values) and their :class:`IntensityMap`.

    The planes are read now, except those of a dask layer: they stay dask arrays, read by the
    job's worker (a stack: each in turn, one plane in memory at a time; a preview: only its
    region), never in the GUI thread. The intensity map is of all the planes (a dask layer:
    computed from their range only, if at all).
    """
    lazy = is_dask(layer.data)
    planes = [layer.data[idx] if lazy else np.asarray(layer.data[idx]) for idx in indices]
    if len(planes) == 1:
        return planes, IntensityMap(planes[0])
    if lazy:
        import dask.array as da

        return planes, IntensityMap(da.stack(planes))
    return planes, IntensityMap(np.stack(planes))


def layer_field(layer, shape: tuple[int, int] | None = None) -> MotionField:
    """The dense field a motion Vectors layer carries (or one rebuilt from its vectors)."""
    field = layer.metadata.get(FIELD_KEY)
    if isinstance(field, MotionField):
        return field
    if shape is None:
        raise ValueError(f"layer {layer.name!r} holds no dense motion field")
    data = np.asarray(layer.data)[:, :, -2:]
    return vectors_to_field(data, shape)


#: Where the Deblur widget's motion comes from.
MOTION_SOURCES = ("Motion layer", "Uniform motion", "PSF layer")


def chosen_motion(source: str, uniform, psf_layer, motion_layer, shape):
    """The Deblur widget's motion and a description of where it comes from (``source``, one of
    :data:`MOTION_SOURCES`): the uniform ``(length, angle)``, the PSF layer's data or the motion
    layer's field (clipped to the bank's longest streak, with a warning)."""
    if source == MOTION_SOURCES[1]:
        length, angle = float(uniform[0]), float(uniform[1])
        return (length, angle), f"uniform motion {length:g} px at {angle:g} deg"
    if source == MOTION_SOURCES[2]:
        if psf_layer is None:
            raise ValueError("choose a PSF image layer")
        return (np.array(psf_layer.data, dtype=np.float32, copy=True).squeeze(),
                f"PSF layer {psf_layer.name!r}")
    layer = motion_layer
    if layer is None:
        raise ValueError("no motion layer: estimate motion first, open a field, or choose "
                         "'Uniform motion'")
    field = layer_field(layer, shape)
    if field.shape != tuple(shape):
        raise ValueError(f"motion layer {layer.name!r} is {field.shape[0]}x{field.shape[1]} "
                         f"but the image is {shape[0]}x{shape[1]}")
    edited = field is not layer.metadata.get(ORIGINAL_KEY, field)
    origin = layer.metadata.get(SOURCE_KEY, "file")
    detail = layer.metadata.get("estimated_with")
    about = (f"motion layer {layer.name!r} ({origin}{': ' + detail if detail else ''}"
             f"{', edited by hand' if edited else ''})")
    if float(field.length.max()) > MAX_LENGTH:
        show_warning(f"Motion longer than {MAX_LENGTH:g} px was clipped to {MAX_LENGTH:g} px.")
        field = field.clipped(warn=False)
    return field, about


def set_layer_field(layer, field: MotionField, spacing: int | None = None) -> None:
    """Show ``field`` in a motion Vectors layer: dense field, streaks and colours together."""
    spacing = spacing or layer.metadata.get(SPACING_KEY)
    shown = field_display(field, spacing, layer.metadata.get(CONFIDENCE_KEY))
    layer.metadata[FIELD_KEY] = field
    layer.metadata[SPACING_KEY] = shown["spacing"]
    layer.metadata[STREAK_SCALE_KEY] = shown["scale"]
    layer.metadata.setdefault(ORIGINAL_KEY, field)
    layer.data = shown["data"]
    layer.features = shown["features"]
    layer.edge_color = shown["edge_color"]  # explicit colours: never stale after an edit
    if not np.allclose(layer.edge_width, shown["edge_width"]):  # each set redraws the layer
        layer.edge_width = shown["edge_width"]


def show_field(viewer, field: MotionField, name: str, *, spacing: int | None = None,
               scale=None, translate=None, original: MotionField | None = None,
               confidence=None, source: str = "estimate"):
    """Add the Vectors layer ``name`` for ``field``, or update it if it exists; return it.

    The layer becomes the selected one, so the widgets that follow the selection use it.
    """
    layer = find_layer(viewer, name)
    if layer is not None and type(layer).__name__ == "Vectors":
        if original is not None:
            layer.metadata[ORIGINAL_KEY] = original
        layer.metadata[SOURCE_KEY] = source
        layer.metadata.pop(CONFIDENCE_KEY, None)
        if confidence is not None:
            layer.metadata[CONFIDENCE_KEY] = np.asarray(confidence, np.float32)
        set_layer_field(layer, field, spacing)
        layer.visible = True
    else:
        kwargs = {}
        if scale is not None:
            kwargs.update(scale=tuple(scale), translate=tuple(translate))
        data, layer_kwargs, _ = field_layer_data(field, name, spacing, original=original,
                                                 confidence=confidence, source=source,
                                                 **kwargs)
        layer = unwrap(viewer.add_vectors(data, **layer_kwargs))
    if unwrap(viewer.layers.selection.active) is layer:  # no change, no event: say it again
        viewer.layers.selection.events.active(value=layer)
    else:
        viewer.layers.selection.active = layer
    return layer


def field_legend(layer) -> str:
    """One line saying how a motion layer draws its streaks (the colour and length legend)."""
    field = layer.metadata[FIELD_KEY]
    scale = float(layer.metadata.get(STREAK_SCALE_KEY, 1.0))
    size = "at their length" if scale >= 1 else f"at x{scale:.2f} of their length"
    text = (f"streaks {size} every {layer.metadata.get(SPACING_KEY)} px; colour: "
            f"0 (violet) to {max(float(field.length.max()), 2.0):.0f} px (yellow)")
    if CONFIDENCE_KEY in layer.metadata:
        text += "; faint = unconfirmed, check by eye"
    return text


def find_layer(viewer, name: str):
    """The viewer's layer called ``name``, or ``None``."""
    return next((layer for layer in viewer.layers if layer.name == name), None)


def plane_geometry(layer) -> dict:
    """Scale and translate of the layer's last two (spatial) axes."""
    return {"scale": tuple(layer.scale[-2:]), "translate": tuple(layer.translate[-2:])}


def snapshot_or_notify(widget, title: str, **options):
    """``widget.snapshot()``, or ``None`` after a notification if it is running or invalid.

    A rejected run also resets the widget's status line (and progress bar), so it never keeps
    the previous run's "done".
    """
    if widget.running:
        return None
    try:
        return widget.snapshot(**options)
    except (ValueError, IndexError) as err:
        show_error(f"{title}: {err}")
        widget.status.value = f"not run: {err}"
        if hasattr(widget, "progress"):
            widget.progress.value = 0
        return None


def widen_contrast(layer, values: np.ndarray) -> None:
    """Widen an image layer's contrast limits to include ``values`` (deblurring sharpens peaks
    beyond the input's range; they must not saturate)."""
    lo, hi = (float(v) for v in layer.contrast_limits)
    vmin, vmax = float(np.min(values)), float(np.max(values))
    if vmin >= lo and vmax <= hi:
        return
    new = (min(lo, vmin), max(hi, vmax))
    rlo, rhi = (float(v) for v in layer.contrast_limits_range)
    layer.contrast_limits_range = (min(rlo, new[0]), max(rhi, new[1]))
    layer.contrast_limits = new


def short_dock_title(widget, title: str) -> None:
    """Once docked, give ``widget``'s dock the short ``title`` (its tab shows it uncut).

    napari titles plugin docks "<widget> (<plugin>)", which tabbed docks cut off. Runs at the
    next event-loop turn, after napari wrapped the widget in its dock.
    """
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QDockWidget

    def apply():
        try:
            parent = widget.native.parentWidget()
            while parent is not None and not isinstance(parent, QDockWidget):
                parent = parent.parentWidget()
            if parent is not None:
                parent.setWindowTitle(title)
        except RuntimeError:  # the widget was deleted before it was docked
            pass

    QTimer.singleShot(0, apply)
