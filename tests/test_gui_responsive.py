"""The GUI stays responsive while a 2048 x 2048 image is deblurred (issue 10 acceptance).

A 10-ms Qt timer ticks in the event loop; after the Run click's own handler (which copies the
image and adds the result layer), the longest gap between ticks must stay under 0.2 s until the
run ends: the per-stage updates arrive converted to the layer's dtype by the worker.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_motion_deblur.gui.field_editing import field_layer_data
from napari_motion_deblur.physics.synthesis import camera_shake_field

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"
SIDE = 2048


def test_event_loop_never_stalls_during_a_2048_run(qtbot, make_napari_viewer):
    from qtpy.QtCore import QTimer

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    image = viewer.add_image((rng.random((SIDE, SIDE)) * 255).astype(np.uint8), name="big")
    field = camera_shake_field((SIDE, SIDE), 0, max_length=21, min_length=9)
    data, kwargs, _ = field_layer_data(field, "big motion", source="estimate")
    viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.reset_choices()
    widget.image.value = image
    widget.stages.value = 2
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    try:
        qtbot.wait(100)
        clicked = time.perf_counter()
        widget.run_button.clicked.emit()
        handled = time.perf_counter()
        qtbot.waitUntil(lambda: not widget.running, timeout=300_000)
        qtbot.wait(100)
    finally:
        timer.stop()
    assert widget.n_updates == 2 and viewer.layers["big deblurred"].data.shape == (SIDE, SIDE)
    during = np.asarray([t for t in ticks if t > handled])
    gaps = np.diff(during)
    print(f"click handler {handled - clicked:.3f} s; during the run: longest event-loop gap "
          f"{gaps.max():.3f} s, 99th percentile {np.percentile(gaps, 99):.3f} s, "
          f"{len(gaps)} ticks")
    assert handled - clicked < 1.0
    assert gaps.max() <= 0.2


def test_dragging_on_a_2048_field_stays_interactive(make_napari_viewer):
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    from napari_motion_deblur.gui.field_editing import FIELD_KEY
    from napari_motion_deblur.motion import MotionField

    viewer = make_napari_viewer()
    data, kwargs, _ = field_layer_data(MotionField.uniform((SIDE, SIDE), 5.0, 0.0), "motion")
    layer = viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Edit motion field")
    widget.reset_choices()
    widget.motion_layer.value = layer
    widget.edit_mode.value = True
    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", position=(1000, 1000),
                                                       button=1))
    seconds = []
    for col in range(1004, 1024, 4):  # each move repaints the brush into the dense field
        start = time.perf_counter()
        mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move",
                                                          position=(1000, col), button=1,
                                                          is_dragging=True))
        seconds.append(time.perf_counter() - start)
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release",
                                                         position=(1000, 1024), button=1))
    assert layer.metadata[FIELD_KEY].length[1000, 1012] == pytest.approx(24.0, abs=0.5)
    print(f"drag move on a {SIDE}^2 field: {max(seconds):.3f} s at most")
    assert max(seconds) < 0.4  # was 0.6-1.1 s when the brush blended the whole field
