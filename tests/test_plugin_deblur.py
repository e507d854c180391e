"""The Deblur widget: live per-stage results in a thread worker, cancel, dtypes, stacks."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from napari_motion_deblur.gui.field_editing import field_layer_data
from napari_motion_deblur.gui.sample_data import make_sample

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


@pytest.fixture(scope="module")
def sample():
    return make_sample("photograph", size=128, seed=1)


@pytest.fixture
def deblur(make_napari_viewer, sample):
    viewer = make_napari_viewer()
    image = viewer.add_image(sample.blurred, name="photo", scale=(2.0, 2.0),
                             translate=(5.0, -3.0))
    data, kwargs, _ = field_layer_data(sample.field, "photo motion")
    viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.reset_choices()
    widget.image.value = image
    widget.stages.value = 3
    return viewer, widget


def _run(qtbot, widget):
    widget.run_button.clicked.emit()  # what a click does
    assert widget.running and not widget.run_button.enabled
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)


def test_deblur_updates_result_each_stage_and_beats_input(qtbot, deblur, sample):
    viewer, widget = deblur
    before = viewer.layers["photo"].data.copy()
    _run(qtbot, widget)
    assert widget.n_updates == 3
    assert widget.progress.value == widget.progress.max == 3
    result = viewer.layers["photo deblurred"]
    assert result.data.dtype == np.uint8 and result.data.shape == sample.blurred.shape
    np.testing.assert_array_equal(viewer.layers["photo"].data, before)  # input untouched
    np.testing.assert_array_equal(result.scale, (2.0, 2.0))
    np.testing.assert_array_equal(result.translate, (5.0, -3.0))
    assert tuple(result.contrast_limits) == tuple(viewer.layers["photo"].contrast_limits)
    blurry = peak_signal_noise_ratio(sample.sharp, sample.blurred)
    sharp = peak_signal_noise_ratio(sample.sharp, result.data)
    assert sharp > blurry + 0.3, (blurry, sharp)
    assert widget.run_button.enabled and not widget.cancel_button.enabled


def test_cancel_after_first_stage_keeps_result(qtbot, deblur):
    viewer, widget = deblur
    widget.stages.value = 20

    def cancel_once(update):
        widget.cancel()

    widget.run()
    widget.worker.yielded.connect(cancel_once)
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert 1 <= widget.n_updates < 20
    assert "photo deblurred" in viewer.layers
    assert widget.worker is None and widget.run_button.enabled


def test_uniform_motion_and_float_stack_all_slices(qtbot, make_napari_viewer, sample):
    viewer = make_napari_viewer()
    stack = np.stack([sample.blurred, sample.blurred[::-1]]).astype(np.float32) / 255 * 1000
    layer = viewer.add_image(stack, name="stack")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.reset_choices()
    widget.image.value = layer
    assert not widget.stack_mode.native.isHidden()
    widget.source.value = "Uniform motion"
    widget.length.value, widget.angle.value = 7.0, 30.0
    widget.stages.value, widget.stack_mode.value = 2, "all slices"
    _run(qtbot, widget)
    result = viewer.layers["stack deblurred"].data
    assert widget.n_updates == 4 and result.shape == stack.shape
    assert result.dtype == np.float32 and 0 <= result.min() and result.max() <= 1000.5
    assert result[1].std() > 0  # second slice was filled
    widget.stack_mode.value = "current slice"
    _run(qtbot, widget)  # written into the stack result (tests/test_gui_deblur.py)
    assert viewer.layers["stack deblurred"].data.shape == stack.shape


def test_errors_become_notifications(qtbot, make_napari_viewer, monkeypatch):
    from napari_motion_deblur.gui.widgets import _common

    errors = []
    monkeypatch.setattr(_common, "show_error", errors.append)  # invalid parameters
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.run()  # no image layer
    viewer.add_image(np.zeros((32, 40), np.float32), name="img")
    widget.reset_choices()
    widget.run()  # no motion layer
    assert len(errors) == 2 and not widget.running
    assert "image" in errors[0] and "motion" in errors[1]


def test_cuda_request_without_cuda_warns_and_runs_on_cpu(qtbot, deblur, monkeypatch):
    import torch

    from napari_motion_deblur.gui.widgets import deblur as module

    viewer, widget = deblur
    warnings = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(module, "show_warning", warnings.append)
    widget.device.value = "cuda"
    widget.stages.value = 1
    _run(qtbot, widget)
    assert warnings and "CUDA" in warnings[0]
    assert widget.n_updates == 1


def test_second_run_updates_the_same_result_layer(qtbot, deblur):
    viewer, widget = deblur
    widget.stages.value = 1
    _run(qtbot, widget)
    first = viewer.layers["photo deblurred"]
    _run(qtbot, widget)
    assert viewer.layers["photo deblurred"] is first
    assert [ly.name for ly in viewer.layers].count("photo deblurred") == 1


def test_worker_failure_is_a_notification_not_a_traceback(qtbot, deblur, monkeypatch):
    from napari_motion_deblur.gui.widgets import deblur as module

    viewer, widget = deblur
    errors = []
    monkeypatch.setattr(module, "show_error", errors.append)
    psf = viewer.add_image(np.ones((200, 200), np.float32), name="huge psf")
    widget.reset_choices()
    widget.image.value = viewer.layers["photo"]
    widget.source.value = "PSF layer"
    widget.psf_layer.value = psf
    _run(qtbot, widget)
    assert len(errors) == 1 and "PSF" in errors[0]
    assert widget.n_updates == 0 and widget.status.value == "failed"
    assert "photo deblurred" not in viewer.layers  # no result that is just the input
    assert widget.run_button.enabled


def test_rgb_image_keeps_channels_and_dtype(qtbot, make_napari_viewer):
    from skimage import data

    viewer = make_napari_viewer()
    layer = viewer.add_image(data.astronaut()[::8, ::8], name="rgb")
    assert layer.rgb
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Deblur")
    widget.reset_choices()
    widget.image.value = layer
    widget.source.value = "Uniform motion"
    widget.stages.value = 1
    _run(qtbot, widget)
    result = viewer.layers["rgb deblurred"]
    assert result.rgb and result.data.shape == (64, 64, 3) and result.data.dtype == np.uint8
