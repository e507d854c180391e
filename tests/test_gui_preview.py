"""Preview (issue 10, problem 4): deblur only a drawn region or the part in view, in about a
second, placed over the image; the whole-image run then agrees with it."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from napari_motion_deblur.gui.field_editing import field_layer_data
from napari_motion_deblur.gui.sample_data import make_sample
from napari_motion_deblur.gui.widgets._region import PREVIEW_MARGIN

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


@pytest.fixture
def preview(make_napari_viewer):
    viewer = make_napari_viewer()
    sample = make_sample("photograph", size=320, seed=1)
    image = viewer.add_image(sample.blurred, name="photo", translate=(10.0, 20.0))
    data, kwargs, _ = field_layer_data(sample.field, "photo motion", translate=(10.0, 20.0))
    viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.reset_choices()
    widget.image.value = image
    widget.stages.value = 3
    return viewer, widget, image


def _click(qtbot, widget, button):
    button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)


def test_preview_of_a_drawn_region_matches_the_whole_image_run(qtbot, preview, monkeypatch):
    from napari_motion_deblur.gui.widgets import deblur as module

    viewer, widget, image = preview
    jobs = []
    original = module.run_deblur

    def spy(job):
        jobs.append(job)
        return (yield from original(job))

    monkeypatch.setattr(module, "run_deblur", spy)
    # world rows 110..238, cols 140..268 = data rows 100..228, cols 120..248
    shapes = viewer.add_shapes([[[110, 140], [110, 268], [238, 268], [238, 140]]], name="roi")
    widget.reset_choices()
    widget.region.value = shapes
    _click(qtbot, widget, widget.preview_button)
    shown = viewer.layers["photo preview"]
    assert shown.data.shape == (129, 129) and shown.data.dtype == np.uint8
    np.testing.assert_allclose(shown.translate, (110, 140))
    [job] = jobs
    assert job.planes[0][1].shape == (129 + 2 * PREVIEW_MARGIN,) * 2  # region + margin only
    assert job.motion.shape == job.planes[0][1].shape
    assert "photo deblurred" not in viewer.layers and "preview" in widget.status.value
    _click(qtbot, widget, widget.run_button)
    whole = viewer.layers["photo deblurred"].data[100:229, 120:249]
    assert peak_signal_noise_ratio(whole, shown.data) > 35  # the preview is what Run gives


def test_preview_without_a_region_takes_the_view(qtbot, preview):
    viewer, widget, image = preview
    viewer.scene.camera.center = (0.0, 150.0, 180.0)
    viewer.scene.camera.zoom = 8.0
    _click(qtbot, widget, widget.preview_button)
    shown = viewer.layers["photo preview"]
    height, width = np.asarray(viewer.canvas.size[:2]) / 8.0
    assert abs(shown.data.shape[0] - min(height, 256)) <= 2
    assert abs(shown.data.shape[1] - min(width, 256)) <= 2
    centre = np.asarray(shown.translate) + np.asarray(shown.data.shape[:2]) / 2
    np.testing.assert_allclose(centre, (150, 180), atol=2)


def _fake_estimator(monkeypatch, seen, delay=0.0):
    import time

    from napari_motion_deblur.estimation.api import MotionEstimate
    from napari_motion_deblur.gui.widgets import _jobs
    from napari_motion_deblur.motion import MotionField

    def estimate(image, **kwargs):
        seen.append(image.shape)
        time.sleep(delay)
        rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
        return MotionEstimate(MotionField(5 + cols / 20, rows % 180),
                              np.ones(image.shape[:2], np.float32))

    monkeypatch.setattr(_jobs, "estimate_with_confidence", estimate)


def test_estimate_preview_of_a_region_is_placed_over_it_and_not_followed(qtbot, preview,
                                                                         monkeypatch):
    from napari_motion_deblur.gui.field_editing import FIELD_KEY

    viewer, deblur, image = preview
    seen = []
    _fake_estimator(monkeypatch, seen)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    shapes = viewer.add_shapes([[[110, 140], [110, 268], [238, 268], [238, 140]]], name="roi")
    widget.reset_choices()
    widget.image.value = image
    widget.region.value = shapes
    _click(qtbot, widget, widget.preview_button)
    assert seen == [(129 + 128, 129 + 128)]  # the region and 64 px of context on each side
    shown = viewer.layers["photo motion preview"]
    field = shown.metadata[FIELD_KEY]
    assert field.shape == (129, 129)
    np.testing.assert_allclose(shown.translate, (110, 140))
    assert field.length[0, 0] == pytest.approx(5 + 64 / 20)  # cut at the region, not the margin
    assert deblur.motion_layer.value.name == "photo motion"  # Deblur keeps the whole field
    assert "photo motion" in viewer.layers


def test_estimate_shows_busy_progress_and_cancel_discards(qtbot, make_napari_viewer,
                                                          monkeypatch):
    seen = []
    _fake_estimator(monkeypatch, seen, delay=2.5)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    widget.reset_choices()
    widget.run_button.clicked.emit()
    assert widget.running and widget.progress.max == 0 and widget.cancel_button.enabled
    qtbot.waitUntil(lambda: widget.status.value.endswith(" s"), timeout=5_000)  # time so far
    widget.cancel_button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert seen and "img motion" not in viewer.layers
    assert widget.status.value == "cancelled" and not widget.cancel_button.enabled
