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


def _deblur_widget(viewer, pixels, field, name, **placement):
    """A viewer holding ``pixels`` and its known ``field``, with the Deblur widget on them."""
    image = viewer.add_image(pixels, name=name, **placement)
    data, kwargs, _ = field_layer_data(field, f"{name} motion", **placement)
    viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.reset_choices()
    widget.image.value = image
    widget.stages.value = 3
    return widget, image


def _spy_on_jobs(monkeypatch) -> list:
    """Record every DeblurJob the widget runs (the run itself goes ahead unchanged)."""
    from napari_motion_deblur.gui.widgets import deblur as module

    jobs, original = [], module.run_deblur

    def spy(job):
        jobs.append(job)
        return (yield from original(job))

    monkeypatch.setattr(module, "run_deblur", spy)
    return jobs


@pytest.fixture
def preview(make_napari_viewer):
    viewer = make_napari_viewer()
    sample = make_sample("photograph", size=320, seed=1)
    widget, image = _deblur_widget(viewer, sample.blurred, sample.field, "photo",
                                   translate=(10.0, 20.0))
    return viewer, widget, image


def _click(qtbot, widget, button):
    button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)


def test_preview_of_a_drawn_region_matches_the_whole_image_run(qtbot, preview, monkeypatch):
    viewer, widget, image = preview
    jobs = _spy_on_jobs(monkeypatch)
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


def _fake_estimator(monkeypatch, seen, delay=0.0, steps=1):
    """Replace the core estimator by one that takes ``steps`` steps of ``delay`` seconds."""
    import time

    from napari_motion_deblur.estimation.api import EstimationProgress, MotionEstimate
    from napari_motion_deblur.gui.widgets import _jobs
    from napari_motion_deblur.motion import MotionField

    def estimate(image, settings):
        seen.append((image.shape, settings.passes))
        for step in range(1, steps):
            time.sleep(delay)
            seen.append(step)
            yield EstimationProgress(step, steps, f"step {step}")
        time.sleep(delay)
        rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
        estimate = MotionEstimate(MotionField(5 + cols / 20, rows % 180),
                                  np.ones(image.shape[:2], np.float32))
        yield EstimationProgress(steps, steps, "done", estimate)

    monkeypatch.setattr(_jobs, "iter_estimate", estimate)


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
    widget.passes.value = 4
    _click(qtbot, widget, widget.preview_button)
    # the region and 64 px of context on each side; one Motion-Net pass (PREVIEW_PASSES)
    assert seen == [((129 + 128, 129 + 128), 1)]
    shown = viewer.layers["photo motion preview"]
    field = shown.metadata[FIELD_KEY]
    assert field.shape == (129, 129)
    np.testing.assert_allclose(shown.translate, (110, 140))
    assert field.length[0, 0] == pytest.approx(5 + 64 / 20)  # cut at the region, not the margin
    assert deblur.motion_layer.value.name == "photo motion"  # Deblur keeps the whole field
    assert "photo motion" in viewer.layers


def test_estimate_reports_progress_and_cancel_stops_the_work(qtbot, make_napari_viewer,
                                                             monkeypatch):
    seen = []
    _fake_estimator(monkeypatch, seen, delay=0.4, steps=20)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    widget.reset_choices()
    widget.run_button.clicked.emit()
    assert widget.running and widget.progress.max == 0 and widget.cancel_button.enabled
    qtbot.waitUntil(lambda: widget.progress.max == 20 and widget.progress.value >= 2,
                    timeout=10_000)  # each step reported
    qtbot.waitUntil(lambda: "step" in widget.status.value and widget.status.value.endswith(" s"),
                    timeout=5_000)  # the last step and the time so far
    widget.cancel_button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=10_000)
    steps_run = len(seen) - 1
    assert 2 <= steps_run < 10  # stopped after the step in progress, long before the 20th
    assert "img motion" not in viewer.layers
    assert widget.status.value == "cancelled" and not widget.cancel_button.enabled
    assert widget.progress.value == 0


def test_colour_preview_deblurs_the_luminance_and_matches_the_run(qtbot, make_napari_viewer,
                                                                  monkeypatch):
    sample = make_sample("photograph", size=200, seed=2)
    rgb = np.clip(np.stack([sample.blurred * 0.9, sample.blurred, sample.blurred * 0.8 + 20],
                           axis=-1), 0, 255).astype(np.uint8)
    viewer = make_napari_viewer()
    widget, _ = _deblur_widget(viewer, rgb, sample.field, "rgb")
    jobs = _spy_on_jobs(monkeypatch)
    shapes = viewer.add_shapes([[[40, 40], [40, 160], [160, 160], [160, 40]]], name="roi")
    widget.reset_choices()
    widget.region.value = shapes
    _click(qtbot, widget, widget.preview_button)
    _click(qtbot, widget, widget.run_button)
    preview_job, run_job = jobs
    assert preview_job.settings.colour == "luminance" and run_job.settings.colour == "channels"
    shown = viewer.layers["rgb preview"].data
    whole = viewer.layers["rgb deblurred"].data[40:161, 40:161]
    assert shown.shape == whole.shape == (121, 121, 3)
    gain = peak_signal_noise_ratio(whole, rgb[40:161, 40:161])
    assert peak_signal_noise_ratio(whole, shown) > max(gain + 6, 30)  # close to the full run


def test_preview_benchmark_times_the_widgets_settings():
    from pathlib import Path

    from napari_motion_deblur.gui.widgets.estimate import ESTIMATE_MARGIN, PREVIEW_PASSES

    path = Path(__file__).parents[1] / "benchmarks" / "preview_speed.py"
    text = path.read_text()
    assert f"ESTIMATE_MARGIN = {ESTIMATE_MARGIN}\n" in text
    assert f"PREVIEW_MARGIN = {PREVIEW_MARGIN}\n" in text
    assert f"PREVIEW_PASSES = {PREVIEW_PASSES}\n" in text
