"""The "Edit motion field" dock widget: brush streaks with the mouse, set, smooth, undo."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton
from napari.utils.notifications import show_error

from ...motion import MAX_LENGTH, MotionField
from ..field_editing import (
    FIELD_KEY,
    ORIGINAL_KEY,
    EditHistory,
    brush_edit,
    drag_to_streak,
    set_uniform,
    smooth_field,
)
from ._common import (
    follow_motion_layers,
    layer_choices,
    layer_field,
    set_layer_field,
    short_dock_title,
)

if TYPE_CHECKING:
    import napari

UNDO_KEY = "Control-z"


def region_mask(shapes, motion_layer, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the field pixels inside any shape of a Shapes layer.

    Shapes and motion layers may have different scale/translate: field pixels are mapped
    through world coordinates into the Shapes layer's data coordinates.
    """
    if shapes.ndim != 2 or len(shapes.data) == 0:
        raise ValueError("the region must be a 2-D Shapes layer with at least one shape")
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    pixel = np.stack([rows, cols], axis=-1).astype(np.float64)
    world = pixel * np.asarray(motion_layer.scale[-2:]) + np.asarray(motion_layer.translate[-2:])
    inside = (world - np.asarray(shapes.translate)) / np.asarray(shapes.scale)
    index = np.round(inside).astype(int)
    extent = np.maximum(index.max(axis=(0, 1)), 0) + 1
    masks = np.asarray(shapes.to_masks(mask_shape=extent)).any(axis=0)
    valid = (index >= 0).all(-1) & (index < np.asarray(masks.shape)).all(-1)
    clipped = np.clip(index, 0, np.asarray(masks.shape) - 1)
    return valid & masks[clipped[..., 0], clipped[..., 1]]


class EditWidget(Container):
    """Edit the dense field of a motion Vectors layer.

    With "Edit with mouse" on and the motion layer selected, a left-button drag draws a streak:
    its length and angle are painted into the field around the drag's midpoint with a smooth
    brush. Ctrl+Z (on the layer) or "Undo" reverts the last edit.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer holding the motion layers.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        short_dock_title(self, "Edit")
        self.motion_layer = ComboBox(label="Motion layer", choices=layer_choices(viewer, "vectors"))
        self.edit_mode = CheckBox(text="Edit with mouse (drag a streak)", value=False)
        self.radius = FloatSpinBox(label="Brush radius (px)", min=1.0, max=512.0, step=1.0,
                                   value=24.0)
        self.length = FloatSpinBox(label="Length (px)", min=0.0, max=MAX_LENGTH, step=0.5,
                                   value=9.0)
        self.angle = FloatSpinBox(label="Angle (deg)", min=0.0, max=179.9, step=1.0, value=0.0)
        self.region = ComboBox(label="Region", choices=self._region_choices, nullable=True,
                               tooltip="A Shapes layer; empty = the whole field")
        self.uniform_button = PushButton(text="Set uniform")
        self.sigma = FloatSpinBox(label="Smoothing sigma (px)", min=0.5, max=100.0, step=0.5,
                                  value=4.0)
        self.smooth_button = PushButton(text="Smooth field")
        self.reset_button = PushButton(text="Reset to estimate")
        self.undo_button = PushButton(text="Undo (Ctrl+Z)")
        self.status = Label(label="", value="")
        self.extend([self.motion_layer, self.edit_mode, self.radius, self.length, self.angle,
                     self.region, self.uniform_button, self.sigma, self.smooth_button,
                     Container(widgets=[self.reset_button, self.undo_button],
                               layout="horizontal", labels=False),
                     self.status])
        self._histories: dict[int, EditHistory] = {}
        self._attached = None
        self.edit_mode.changed.connect(self._sync_attachment)
        self.motion_layer.changed.connect(self._sync_attachment)
        self.uniform_button.changed.connect(self.set_uniform)
        self.smooth_button.changed.connect(self.smooth)
        self.reset_button.changed.connect(self.reset)
        self.undo_button.changed.connect(self.undo)
        self._follow = follow_motion_layers(viewer, self.motion_layer)

    def _region_choices(self, _widget=None):
        return layer_choices(self._viewer, "shapes")()

    # --------------------------------------------------------------- field access
    def history(self, layer) -> EditHistory:
        """The undo stack of a motion layer."""
        return self._histories.setdefault(id(layer), EditHistory())

    def _current(self):
        layer = self.motion_layer.value
        if layer is None:
            raise ValueError("no motion layer: estimate motion or open a field first")
        return layer, layer_field(layer)

    def apply(self, layer, field: MotionField, *, undoable: bool = True) -> None:
        """Show ``field`` in ``layer``, remembering the previous field for undo."""
        if undoable:
            self.history(layer).push(layer_field(layer))
        set_layer_field(layer, field)

    def _edit(self, make) -> None:
        try:
            layer, field = self._current()
            self.apply(layer, make(layer, field))
        except ValueError as err:
            show_error(f"Edit motion field: {err}")

    # -------------------------------------------------------------------- buttons
    def set_uniform(self, *_) -> None:
        """Set the typed (length, angle) in the whole field or inside the region's shapes."""

        def make(layer, field):
            shapes = self.region.value
            mask = None if shapes is None else region_mask(shapes, layer, field.shape)
            return set_uniform(field, self.length.value, self.angle.value, mask)

        self._edit(make)

    def smooth(self, *_) -> None:
        """Gaussian-smooth the field (orientations as doubled angles)."""
        self._edit(lambda layer, field: smooth_field(field, self.sigma.value))

    def reset(self, *_) -> None:
        """Return to the field as estimated or loaded (undoable)."""

        def make(layer, field):
            original = layer.metadata.get(ORIGINAL_KEY)
            if not isinstance(original, MotionField):
                raise ValueError("this layer has no estimate to reset to")
            return original

        self._edit(make)

    def undo(self, *_) -> None:
        """Revert the last edit of the selected motion layer."""
        layer = self.motion_layer.value
        if layer is None:
            return
        previous = self.history(layer).pop()
        if previous is None:
            self.status.value = "nothing to undo"
            return
        set_layer_field(layer, previous)
        self.status.value = f"undone ({len(self.history(layer))} more)"

    # ---------------------------------------------------------------------- mouse
    def _sync_attachment(self, *_) -> None:
        layer = self.motion_layer.value if self.edit_mode.value else None
        if self._attached is not None and self._attached is not layer:
            old = self._attached
            if self.on_drag in old.mouse_drag_callbacks:
                old.mouse_drag_callbacks.remove(self.on_drag)
            old.bind_key(UNDO_KEY, None, overwrite=True)
            old.mouse_pan = True
            self._attached = None
        if layer is not None and self._attached is None:
            layer.visible = True  # never edit a field you cannot see
            layer.mouse_drag_callbacks.append(self.on_drag)
            layer.bind_key(UNDO_KEY, lambda _layer: self.undo(), overwrite=True)
            layer.mouse_pan = False
            self._viewer.layers.selection.active = layer
            self._attached = layer

    def on_drag(self, layer, event):
        """Mouse-drag callback: draw a streak from press to release (a generator)."""
        if not self.edit_mode.value or event.button != 1 or "Shift" in event.modifiers:
            return
        field = layer.metadata.get(FIELD_KEY)
        if not isinstance(field, MotionField):
            return
        start = np.asarray(layer.world_to_data(event.position), dtype=float)[-2:]
        yield
        edited = None
        while event.type == "mouse_move":
            edited = self._drag_edit(layer, field, start, event)
            yield
        edited = self._drag_edit(layer, field, start, event) or edited
        if edited is None:
            return
        self.history(layer).push(field)
        length, angle = edited
        self.status.value = f"set {length:.1f} px at {angle:.0f} deg"

    def _drag_edit(self, layer, base: MotionField, start, event):
        end = np.asarray(layer.world_to_data(event.position), dtype=float)[-2:]
        length, angle = drag_to_streak(start, end)
        if length < 1.0:
            return None
        centre = (start + end) / 2
        set_layer_field(layer, brush_edit(base, centre, length, angle, self.radius.value))
        return length, angle
