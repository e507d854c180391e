"""Motion fields as the user sees and keeps them (issue 10): legible streaks (problem 2), colours
that follow edits (problem 3), and saved fields that reopen as Vectors unasked (problem 5)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_motion_deblur.estimation.api import EstimationProgress, MotionEstimate
from napari_motion_deblur.gui.field_editing import (
    FIELD_KEY,
    GROUND_TRUTH,
    SOURCE_KEY,
    field_layer_data,
)
from napari_motion_deblur.motion import MotionField

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


def _fake_estimate(monkeypatch, field, confidence):
    from napari_motion_deblur.gui.widgets import _jobs

    def estimate(image, settings):
        assert image.shape[:2] == field.shape
        yield EstimationProgress(1, 1, "done", MotionEstimate(field, confidence))

    monkeypatch.setattr(_jobs, "iter_estimate", estimate)


def _estimate_widget(qtbot, make_napari_viewer, shape):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros(shape, np.float32), name="photo")
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Estimate motion")
    widget.reset_choices()
    widget.length_scale.value = 1.0
    return viewer, widget


def _run(qtbot, widget):
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)


def test_streaks_on_a_large_image_are_thin_at_their_length_and_show_confidence(
        qtbot, make_napari_viewer, monkeypatch):
    shape = (768, 1024)
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    field = MotionField(8 + 12 * cols / shape[1], (rows * 0.2) % 180)
    confidence = (cols < shape[1] // 2).astype(np.float32)  # confirmed on the left half only
    _fake_estimate(monkeypatch, field, confidence)
    viewer, widget = _estimate_widget(qtbot, make_napari_viewer, shape)
    _run(qtbot, widget)
    layer = viewer.layers["photo motion"]
    spacing = layer.metadata["grid_spacing"]
    assert 24 <= spacing <= 48  # about 32 streaks along the long side, none overlapping
    assert spacing >= 1.1 * float(field.length.max())
    drawn = np.hypot(*layer.data[:, 1].T)
    np.testing.assert_allclose(drawn, layer.features["length"], rtol=1e-4)  # at their length
    width = float(np.max(layer.edge_width))
    assert width <= 3.0 and width <= spacing / 10  # thin lines, not spacing/6-wide blobs
    centres = layer.data[:, 0] + layer.data[:, 1] / 2
    alpha = np.asarray(layer.edge_color)[:, 3]
    left, right = centres[:, 1] < shape[1] // 2, centres[:, 1] >= shape[1] // 2
    assert alpha[left].min() > alpha[right].max()  # unconfirmed streaks are fainter
    assert "faint" in widget.status.value and "px" in widget.status.value  # the legend


def test_a_grid_finer_than_the_streaks_scales_them_and_says_so(qtbot, make_napari_viewer,
                                                              monkeypatch):
    field = MotionField.uniform((128, 128), 20.0, 45.0)
    _fake_estimate(monkeypatch, field, np.zeros((128, 128), np.float32))
    viewer, widget = _estimate_widget(qtbot, make_napari_viewer, (128, 128))
    widget.spacing.value = 8
    _run(qtbot, widget)
    layer = viewer.layers["photo motion"]
    drawn = np.hypot(*layer.data[:, 1].T)
    assert drawn.max() <= 8.0  # fits the grid: no streak runs into its neighbours
    assert "x0.36" in widget.status.value  # legend: drawn at 0.36 of their length


def _colours_of_fresh_layer(viewer, field, spacing):
    data, kwargs, _ = field_layer_data(field, "fresh", spacing)
    fresh = viewer.add_vectors(data, **kwargs)
    colours = np.asarray(fresh.edge_color).copy()
    viewer.layers.remove(fresh)
    return colours


def test_colours_follow_every_edit(make_napari_viewer):
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    viewer = make_napari_viewer()
    data, kwargs, _ = field_layer_data(MotionField.uniform((96, 128), 5.0, 0.0), "motion", 8)
    layer = viewer.add_vectors(data, **kwargs)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Edit motion field")
    widget.reset_choices()
    widget.motion_layer.value = layer

    def check():
        colours = np.asarray(layer.edge_color)
        expected = _colours_of_fresh_layer(viewer, layer.metadata[FIELD_KEY], 8)
        np.testing.assert_allclose(colours, expected, atol=1e-3)
        return colours

    shapes = viewer.add_shapes([[[0, 0], [0, 40], [40, 40], [40, 0]]], name="region")
    widget.reset_choices()
    widget.region.value = shapes
    widget.length.value = 25.0
    widget.set_uniform()
    colours = check()
    assert np.ptp(colours[:, :3], axis=0).max() > 0.3  # long and short streaks differ
    widget.region.value = None
    widget.smooth()
    check()
    widget.edit_mode.value = True
    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", position=(60, 90),
                                                       button=1))
    mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move", position=(60, 120),
                                                      button=1, is_dragging=True))
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release",
                                                         position=(60, 120), button=1))
    assert layer.metadata[FIELD_KEY].length[60, 105] == pytest.approx(30.0, abs=0.5)
    check()
    widget.undo()
    check()


def test_saved_field_reopens_as_vectors_without_naming_the_plugin(make_napari_viewer,
                                                                  tmp_path):
    viewer = make_napari_viewer()
    rows, cols = np.mgrid[:48, :64]
    field = MotionField(3 + cols / 8, (rows * 4.0) % 180)
    data, kwargs, _ = field_layer_data(field, "estimate", 8)
    layer = viewer.add_vectors(data, **kwargs)
    [written] = layer.save(str(tmp_path / "field"), plugin=PLUGIN)  # the extension is added
    assert written.endswith(".motion")
    layer.save(str(tmp_path / "again.motion"))  # napari picks the writer by extension
    for path in (written, str(tmp_path / "again.motion")):
        [read] = viewer.open(path, plugin=None)  # what File > Open and drag-and-drop do
        assert type(read).__name__ == "Vectors"
        np.testing.assert_array_equal(read.metadata[FIELD_KEY].length, field.length)
        np.testing.assert_array_equal(read.metadata[FIELD_KEY].angle, field.angle)
    assert MotionField.load(written) == field  # still the documented .npz archive inside


def test_sample_truth_and_confidence_survive_a_round_trip(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, "microscopy")
    truth = next(ly for ly in layers if type(ly).__name__ == "Vectors")
    assert truth.metadata[SOURCE_KEY] == GROUND_TRUTH and not truth.visible
    field = MotionField.uniform((32, 32), 7.0, 10.0)
    confidence = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    data, kwargs, _ = field_layer_data(field, "est", 8, confidence=confidence)
    [path] = viewer.add_vectors(data, **kwargs).save(str(tmp_path / "est.motion"))
    [read] = viewer.open(path, plugin=None)
    np.testing.assert_allclose(read.metadata["confidence"], confidence)


@pytest.mark.parametrize("damage", ["truncated", "flipped", "npy"])
def test_reader_declines_damaged_or_foreign_files(tmp_path, damage):
    from napari_motion_deblur.gui.io import get_reader

    good = tmp_path / "field.npz"
    MotionField.uniform((40, 50), 9.0, 30.0).save(good)
    raw = bytearray(good.read_bytes())
    bad = tmp_path / f"{damage}.motion"
    if damage == "truncated":
        bad.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flipped":
        raw[len(raw) // 3] ^= 0xFF
        bad.write_bytes(bytes(raw))
    else:
        np.save(tmp_path / "plain.npy", np.zeros((4, 4)))
        bad.write_bytes((tmp_path / "plain.npy").read_bytes())
    assert get_reader(str(bad)) is None
    assert get_reader(str(good)) is not None
