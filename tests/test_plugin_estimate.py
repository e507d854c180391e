"""The Estimate widget: a motion Vectors layer with the dense field in its metadata."""

from __future__ import annotations

import numpy as np
import pytest

from napari_motion_deblur.gui.field_editing import FIELD_KEY, ORIGINAL_KEY, SPACING_KEY
from napari_motion_deblur.gui.sample_data import make_sample
from napari_motion_deblur.motion import MotionField

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


def _require_motionnet_weights():
    import torch

    from napari_motion_deblur.estimation.motionnet import get_motionnet

    try:
        get_motionnet(torch.device("cpu"))
    except RuntimeError as err:  # weights missing or from another architecture
        pytest.skip(f"Motion-Net weights unusable here: {str(err)[:120]}")


@pytest.mark.parametrize("method", ["spectral", "Motion-Net"])
def test_estimate_adds_then_updates_motion_layer(qtbot, make_napari_viewer, method):
    pytest.importorskip("napari_motion_deblur.estimation.api")
    if method == "Motion-Net":
        _require_motionnet_weights()
    viewer = make_napari_viewer()
    sample = make_sample("photograph", size=128, seed=1)
    image = viewer.add_image(sample.blurred, name="photo", scale=(3.0, 3.0))
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    widget.reset_choices()
    widget.image.value = image
    widget.method.value = method
    assert widget.passes.native.isHidden() == (method != "Motion-Net")
    widget.length_scale.value = 1.0  # the raw estimate, to compare with the true field
    widget.spacing.value = 16
    for _ in range(2):  # the second run updates the same layer
        widget.run()
        qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    motion = viewer.layers["photo motion"]
    assert [ly.name for ly in viewer.layers] == ["photo", "photo motion"]
    field = motion.metadata[FIELD_KEY]
    assert isinstance(field, MotionField) and field.shape == (128, 128)
    assert motion.metadata[ORIGINAL_KEY] is field and motion.metadata[SPACING_KEY] == 16
    assert len(motion.data) == 64
    np.testing.assert_array_equal(motion.scale, (3.0, 3.0))
    # Close to the sample's true camera shake (10-14 px), with the Motion-Net issue's threshold:
    # median length within 30 %, median (sign-free) angle within 15 degrees.
    true_length = float(np.median(sample.field.length))
    assert abs(float(np.median(field.length)) - true_length) < 0.3 * true_length
    assert _angle_difference(_median_angle(field.angle), _median_angle(sample.field.angle)) < 15


def _median_angle(angle):
    doubled = np.exp(2j * np.deg2rad(angle))
    return np.rad2deg(np.angle(np.median(doubled.real) + 1j * np.median(doubled.imag))) / 2 % 180


def _angle_difference(a, b):
    return abs((a - b + 90) % 180 - 90)


def test_length_scale_shortens_the_shown_field(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    sample = make_sample("photograph", size=128, seed=1)
    viewer.add_image(sample.blurred, name="photo")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    widget.reset_choices()
    widget.method.value = "spectral"
    lengths = {}
    for scale in (1.0, 0.5):
        widget.length_scale.value = scale
        widget.run()
        qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
        lengths[scale] = viewer.layers["photo motion"].metadata[FIELD_KEY].length.copy()
    np.testing.assert_allclose(lengths[0.5], 0.5 * lengths[1.0], atol=1e-5)
    assert "x0.5" in widget.status.value


def test_estimate_failure_is_a_notification(qtbot, make_napari_viewer, monkeypatch):
    pytest.importorskip("napari_motion_deblur.estimation.api")
    from napari_motion_deblur.gui.widgets import estimate as module

    errors = []
    monkeypatch.setattr(module, "show_error", errors.append)
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((3, 3), np.float32), name="tiny")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    widget.reset_choices()
    widget.method.value = "spectral"
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert len(errors) == 1 and "small" in errors[0]
    assert len(viewer.layers) == 1
