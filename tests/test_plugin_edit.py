"""The Edit widget: mouse-drag brush (simulated events), undo, uniform/region, smooth, reset."""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils._test_utils import read_only_mouse_event
from napari.utils.interactions import (
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)

from napari_motion_deblur.gui.field_editing import FIELD_KEY, field_layer_data
from napari_motion_deblur.motion import MotionField

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


@pytest.fixture
def editing(make_napari_viewer):
    viewer = make_napari_viewer()
    field = MotionField.uniform((96, 128), 5.0, 0.0)
    data, kwargs, _ = field_layer_data(field, "motion", 8)
    layer = viewer.add_vectors(data, scale=(0.5, 0.5), **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Edit motion field")
    widget.reset_choices()
    widget.motion_layer.value = layer
    widget.radius.value = 10.0
    return viewer, widget, layer, field


def _drag(layer, start, end, steps=4):
    """Press at ``start``, move to ``end``, release (world coordinates)."""
    event = read_only_mouse_event(type="mouse_press", position=start, button=1)
    mouse_press_callbacks(layer, event)
    for t in np.linspace(0, 1, steps)[1:]:
        pos = tuple(np.asarray(start) + t * (np.asarray(end) - np.asarray(start)))
        event = read_only_mouse_event(type="mouse_move", position=pos, button=1,
                                      is_dragging=True)
        mouse_move_callbacks(layer, event)
    event = read_only_mouse_event(type="mouse_release", position=end, button=1)
    mouse_release_callbacks(layer, event)


def test_drag_edits_field_near_drag_only_and_undo_restores(editing):
    viewer, widget, layer, field = editing
    _drag(layer, (20, 20), (20, 20))  # edit mode off: nothing happens
    assert layer.metadata[FIELD_KEY] is field
    widget.edit_mode.value = True
    assert not layer.mouse_pan and widget.on_drag in layer.mouse_drag_callbacks
    vectors_before = layer.data.copy()
    # world (20, 20) -> pixel (40, 40); a vertical drag of 10 world units = 20 px at 90 deg
    _drag(layer, (15, 20), (25, 20))
    edited = layer.metadata[FIELD_KEY]
    assert edited.length[40, 40] == pytest.approx(20.0, abs=0.01)
    assert edited.angle[40, 40] == pytest.approx(90.0, abs=0.01)
    assert edited.length[40, 100] == 5.0 and edited.angle[40, 100] == 0.0  # far away
    assert edited.length[5, 5] == 5.0
    assert not np.array_equal(layer.data, vectors_before)
    assert len(widget.history(layer)) == 1
    widget.undo()
    assert layer.metadata[FIELD_KEY] is field
    np.testing.assert_array_equal(layer.data, vectors_before)


def test_ctrl_z_binding_and_detach(editing):
    viewer, widget, layer, field = editing
    widget.edit_mode.value = True
    _drag(layer, (10, 10), (10, 20))
    assert layer.metadata[FIELD_KEY] is not field
    from app_model.types import KeyBinding

    layer.keymap[KeyBinding.from_str("Ctrl+Z")](layer)
    assert layer.metadata[FIELD_KEY] is field
    widget.edit_mode.value = False
    assert layer.mouse_pan and widget.on_drag not in layer.mouse_drag_callbacks


def test_uniform_in_region_smooth_and_reset(editing):
    viewer, widget, layer, field = editing
    shapes = viewer.add_shapes([[[0, 0], [0, 10], [10, 10], [10, 0]]], shape_type="polygon",
                               name="region")  # world 0..10 -> pixels 0..20 of the field
    widget.reset_choices()
    widget.region.value = shapes
    widget.length.value, widget.angle.value = 15.0, 45.0
    widget.set_uniform()
    out = layer.metadata[FIELD_KEY]
    assert out.length[10, 10] == 15.0 and out.angle[10, 10] == 45.0
    assert out.length[60, 60] == 5.0
    widget.region.value = None
    widget.set_uniform()
    assert (layer.metadata[FIELD_KEY].length == 15.0).all()
    widget.smooth()
    assert layer.metadata[FIELD_KEY].length.mean() == pytest.approx(15.0, rel=1e-4)
    widget.reset()
    assert layer.metadata[FIELD_KEY] is field
    assert len(widget.history(layer)) == 4
    for _ in range(4):
        widget.undo()
    assert layer.metadata[FIELD_KEY] is field


def test_real_canvas_drag_edits_without_panning(make_napari_viewer, qtbot):
    """The same drag through the vispy canvas (mouse_pan off: the camera must not move)."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(np.zeros((96, 128), np.float32))
    field = MotionField.uniform((96, 128), 5.0, 0.0)
    data, kwargs, _ = field_layer_data(field, "motion", 8)
    layer = viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Edit motion field")
    widget.reset_choices()
    widget.motion_layer.value = layer
    widget.radius.value = 10.0
    widget.edit_mode.value = True
    viewer.reset_view()
    qtbot.wait(50)
    centre = tuple(viewer.scene.camera.center)
    canvas = viewer.window._qt_viewer.canvas
    transform = canvas.view.transform * canvas.view.scene.transform

    def pixel(row, col):
        return transform.map([col, row])[:2]  # vispy uses (x, y) = (col, row)

    events = canvas._scene_canvas.events
    press = events.mouse_press(pos=pixel(40, 40), button=1, modifiers=())
    events.mouse_move(pos=pixel(45, 40), button=1, modifiers=(), press_event=press)
    events.mouse_release(pos=pixel(50, 40), button=1, modifiers=())
    edited = layer.metadata[FIELD_KEY]
    assert edited.length[45, 40] == pytest.approx(10.0, abs=0.2)
    assert edited.angle[45, 40] == pytest.approx(90.0, abs=1.0)
    assert edited.length[45, 100] == 5.0
    assert tuple(viewer.scene.camera.center) == pytest.approx(centre)
