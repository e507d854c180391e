"""The demo's whole path as a user clicks it: sample -> Estimate -> Edit -> Deblur (issue 10).

Problem 1 (the widgets follow the newest estimate and the user's selection, never the hidden
ground truth), the tour, and the tabs of the docked widgets (problem 7).
"""

from __future__ import annotations

import numpy as np
import pytest
from napari.utils._test_utils import read_only_mouse_event
from napari.utils.interactions import (
    mouse_move_callbacks,
    mouse_press_callbacks,
    mouse_release_callbacks,
)

from napari_motion_deblur.estimation.api import BLIND_REGULARIZATION
from napari_motion_deblur.gui.field_editing import (
    CONFIDENCE_KEY,
    FIELD_KEY,
    ORIGINAL_KEY,
    field_layer_data,
)
from napari_motion_deblur.gui.sample_data import truth_name
from napari_motion_deblur.gui.widgets.launch import TAB_TITLES, setup_demo_viewer
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.settings import DeblurSettings
from napari_motion_deblur.solvers.irc import DEFAULT_LAMBDA

pytestmark = pytest.mark.gui
TRUTH = truth_name("Photograph")
ESTIMATE = "Photograph (blurred) motion"


def _estimate(qtbot, widgets, method="spectral"):
    estimate = widgets["Estimate motion"]
    estimate.method.value = method  # spectral: weight-free and fast where the wiring is tested
    estimate.run_button.clicked.emit()
    qtbot.waitUntil(lambda: not estimate.running, timeout=60_000)
    assert estimate.status.value.startswith("done"), estimate.status.value


def _drag(layer, start, end, steps=4):
    """Press at ``start``, move to ``end``, release (world coordinates), as the canvas does."""
    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", position=start,
                                                       button=1))
    for t in np.linspace(0, 1, steps)[1:]:
        pos = tuple(np.asarray(start) + t * (np.asarray(end) - np.asarray(start)))
        mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move", position=pos,
                                                          button=1, is_dragging=True))
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release", position=end,
                                                         button=1))


def test_ground_truth_is_named_unmistakably_and_hidden(make_napari_viewer):
    viewer = make_napari_viewer()
    setup_demo_viewer(viewer, "photograph")
    truth = viewer.layers[TRUTH]
    assert "TRUE" in truth.name and "ground truth" in truth.name
    assert not truth.visible
    assert viewer.layers.selection.active is viewer.layers["Photograph (blurred)"]


def test_widgets_follow_the_newest_estimate_and_the_users_selection(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    widgets = setup_demo_viewer(viewer, "photograph")
    deblur, edit = widgets["Deblur"], widgets["Edit motion field"]
    _estimate(qtbot, widgets)
    estimate = viewer.layers[ESTIMATE]
    assert deblur.motion_layer.value is estimate
    assert edit.motion_layer.value is estimate
    assert deblur.regularization.value == pytest.approx(BLIND_REGULARIZATION)
    # the user opens another field: it is selected, the widgets follow (known field: default TV)
    data, kwargs, _ = field_layer_data(MotionField.uniform((256, 256), 9.0, 30.0), "opened")
    opened = viewer.add_vectors(data, **kwargs)
    assert deblur.motion_layer.value is opened and edit.motion_layer.value is opened
    assert deblur.regularization.value == pytest.approx(DEFAULT_LAMBDA)
    # ... and back to the estimate by clicking it in the layer list
    viewer.layers.selection.active = estimate
    assert deblur.motion_layer.value is estimate and edit.motion_layer.value is estimate
    # selecting the ground truth in the layer list does not make the widgets use it
    viewer.layers.selection.active = viewer.layers[TRUTH]
    assert deblur.motion_layer.value is estimate and edit.motion_layer.value is estimate
    # the user picks the truth in Deblur's list; a new estimate takes over again
    viewer.layers.selection.active = estimate
    deblur.motion_layer.value = viewer.layers[TRUTH]
    _estimate(qtbot, widgets)  # the estimate layer is already the selected one
    assert deblur.motion_layer.value is estimate
    # a regularization the user typed is kept whatever the motion source
    deblur.regularization.value = 0.005
    viewer.layers.selection.active = opened
    assert deblur.regularization.value == pytest.approx(0.005)


def test_tour_estimate_edit_deblur_uses_the_edited_estimate(qtbot, make_napari_viewer,
                                                            monkeypatch):
    from napari_motion_deblur.gui.widgets import deblur as deblur_module

    jobs = []
    original_run = deblur_module.run_deblur

    def spy(job):
        jobs.append(job)
        return (yield from original_run(job))

    monkeypatch.setattr(deblur_module, "run_deblur", spy)
    viewer = make_napari_viewer()
    widgets = setup_demo_viewer(viewer, "photograph")
    _estimate(qtbot, widgets, method="Motion-Net")  # the demo's defaults (4 passes, x0.8)
    edit, deblur = widgets["Edit motion field"], widgets["Deblur"]
    motion = viewer.layers[ESTIMATE]
    estimated = motion.metadata[FIELD_KEY]
    edit.radius.value = 30.0
    edit.edit_mode.value = True
    _drag(motion, (128, 100), (128, 125))  # a horizontal 25 px streak through (128, 112)
    edited = motion.metadata[FIELD_KEY]
    assert edited is not estimated and motion.metadata[ORIGINAL_KEY] is estimated
    assert edited.length[128, 112] == pytest.approx(25.0, abs=0.5)
    deblur.stages.value = 1
    deblur.run_button.clicked.emit()
    qtbot.waitUntil(lambda: not deblur.running, timeout=60_000)
    [job] = jobs
    assert job.motion is edited  # the estimated, edited field, not the ground truth
    assert job.motion is not viewer.layers[TRUTH].metadata[FIELD_KEY]
    # the blind default weight means deblur()'s: from the noise level, starting between that
    # weight and the non-blind one as the estimate's confidence says
    assert deblur.regularization.value == pytest.approx(BLIND_REGULARIZATION)
    assert job.settings.regularization == "auto"
    confidence = float(np.mean(motion.metadata[CONFIDENCE_KEY]))
    assert job.settings.base == pytest.approx(
        DeblurSettings().deconvolution_for(confidence).base)
    assert DEFAULT_LAMBDA <= job.settings.base <= BLIND_REGULARIZATION
    # an estimate is deblurred with the blind settings (the node operator), not non-blind ones
    blind = DeblurSettings().deconvolution
    assert (job.settings.operator, job.settings.saturation) == (blind.operator, blind.saturation)
    assert job.settings.operator == "nodes"
    result = viewer.layers["Photograph (blurred) deblurred"]
    assert "edited by hand" in result.metadata["deblurred_with"]["motion"]
    assert "estimate" in result.metadata["deblurred_with"]["motion"]


def test_dock_tabs_show_their_whole_names(qtbot, make_napari_viewer):
    from qtpy.QtWidgets import QTabBar

    viewer = make_napari_viewer(show=True)
    setup_demo_viewer(viewer, "photograph")
    qtbot.wait(50)
    bars = [bar for bar in viewer.window._qt_window.findChildren(QTabBar)
            if sorted(bar.tabText(i) for i in range(bar.count())) == sorted(TAB_TITLES.values())]
    assert bars, "the three widgets are not tabbed under their short names"
    bar = bars[0]
    for i in range(bar.count()):
        text = bar.tabText(i)
        assert bar.tabRect(i).width() >= bar.fontMetrics().horizontalAdvance(text), text


def test_widgets_opened_one_by_one_get_short_tab_names(qtbot, make_napari_viewer):
    from qtpy.QtWidgets import QTabBar

    viewer = make_napari_viewer(show=True)
    for name in TAB_TITLES:  # as from the Plugins menu, without the demo's setup
        viewer.window.add_plugin_dock_widget("napari-motion-deblur", name, tabify=True)
    qtbot.wait(50)
    texts = {bar.tabText(i) for bar in viewer.window._qt_window.findChildren(QTabBar)
             for i in range(bar.count())}
    assert set(TAB_TITLES.values()) <= texts


def test_editing_a_hidden_field_shows_it(make_napari_viewer):
    viewer = make_napari_viewer()
    widgets = setup_demo_viewer(viewer, "photograph")
    edit, truth = widgets["Edit motion field"], viewer.layers[TRUTH]
    edit.motion_layer.value = truth  # picked explicitly from the list
    assert not truth.visible
    edit.edit_mode.value = True
    assert truth.visible  # hand edits never land on a layer the user cannot see
