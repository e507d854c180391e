"""The npe2 manifest, widgets opening from it, sample data and file IO through napari."""

from __future__ import annotations

import numpy as np
import pytest

from napari_motion_deblur.gui.field_editing import FIELD_KEY
from napari_motion_deblur.motion import MotionField

PLUGIN = "napari-motion-deblur"
WIDGETS = ["Estimate motion", "Edit motion field", "Deblur"]


def test_manifest_validates_and_imports():
    from npe2 import PluginManifest

    manifest = PluginManifest._from_package_or_name(PLUGIN)
    manifest.validate_imports()
    contributions = manifest.contributions
    assert [w.display_name for w in contributions.widgets] == WIDGETS
    assert {s.key for s in contributions.sample_data} == {"photograph", "microscopy"}
    assert contributions.readers and contributions.writers


@pytest.mark.gui
@pytest.mark.parametrize("name", WIDGETS)
def test_widget_opens_from_manifest(make_napari_viewer, name):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    expected = {"Estimate motion": "EstimateWidget", "Edit motion field": "EditWidget",
                "Deblur": "DeblurWidget"}[name]
    assert type(widget).__name__ == expected
    assert dock.inner_widget() is widget
    widget.reset_choices()


@pytest.mark.gui
@pytest.mark.parametrize("key", ["photograph", "microscopy"])
def test_sample_data_has_true_field(make_napari_viewer, key):
    viewer = make_napari_viewer()
    layers = viewer.open_sample(PLUGIN, key)
    kinds = sorted(type(layer).__name__ for layer in layers)
    assert kinds == ["Image", "Image", "Vectors"]
    blurred = next(ly for ly in layers if ly.name.endswith("(blurred)"))
    sharp = next(ly for ly in layers if ly.name.endswith("(sharp)"))
    motion = next(ly for ly in layers if type(ly).__name__ == "Vectors")
    field = motion.metadata[FIELD_KEY]
    assert isinstance(field, MotionField) and field.shape == blurred.data.shape
    assert float(field.length.max()) > 5
    assert not sharp.visible and blurred.data.dtype == sharp.data.dtype
    assert np.abs(blurred.data.astype(float) - sharp.data.astype(float)).mean() > 1


@pytest.mark.gui
def test_writer_reader_round_trip_through_napari(make_napari_viewer, tmp_path):
    from napari_motion_deblur.gui.field_editing import field_layer_data
    from napari_motion_deblur.gui.sample_data import make_sample

    viewer = make_napari_viewer()
    field = make_sample("microscopy", size=64).field
    data, kwargs, _ = field_layer_data(field, "truth", 8)
    layer = viewer.add_vectors(data, **kwargs)
    path = tmp_path / "field.npz"
    written = layer.save(str(path), plugin=PLUGIN)
    assert written == [str(path)]
    [read] = viewer.open(str(path), plugin=PLUGIN)
    loaded = read.metadata[FIELD_KEY]
    np.testing.assert_array_equal(loaded.length, field.length)
    np.testing.assert_array_equal(loaded.angle, field.angle)
    np.testing.assert_array_equal(MotionField.load(path).length, field.length)
