"""The Deblur widget as a demanding user meets it (issue 10): stack results kept (problem 6),
defaults and status (problem 7), before/after and a record of what made a result (problem 8)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_motion_deblur import __version__
from napari_motion_deblur.estimation.api import BLIND_REGULARIZATION
from napari_motion_deblur.gui.field_editing import field_layer_data
from napari_motion_deblur.gui.io import read_record
from napari_motion_deblur.gui.sample_data import make_sample
from napari_motion_deblur.solvers.irc import DEFAULT_LAMBDA

pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


def _widget(viewer, name="Deblur"):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    widget.reset_choices()
    return widget


def _photo_deblur(viewer, stages, iterations):
    """A 64-px photograph sample in ``viewer`` and the Deblur widget on it, uniform motion."""
    image = viewer.add_image(make_sample("photograph", size=64).blurred, name="photo")
    widget = _widget(viewer)
    widget.image.value = image
    widget.source.value = "Uniform motion"
    widget.stages.value, widget.iterations.value = stages, iterations
    return widget


def _run(qtbot, widget):
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)


def test_current_slice_after_all_slices_writes_into_the_stack_result(qtbot,
                                                                     make_napari_viewer):
    viewer = make_napari_viewer()
    blurred = make_sample("photograph", size=64, seed=2).blurred
    stack = np.stack([blurred, blurred[::-1], blurred[:, ::-1]])
    layer = viewer.add_image(stack, name="stack")
    widget = _widget(viewer)
    widget.image.value = layer
    widget.source.value = "Uniform motion"
    widget.stages.value, widget.stack_mode.value = 1, "all slices"
    _run(qtbot, widget)
    result = viewer.layers["stack deblurred"]
    first = result.data.copy()
    assert first.shape == stack.shape
    viewer.dims.set_point(0, 1)
    widget.stack_mode.value = "current slice"
    widget.length.value = 15.0  # different motion: slice 1 changes
    _run(qtbot, widget)
    assert viewer.layers["stack deblurred"] is result and result.data.shape == stack.shape
    assert not np.array_equal(result.data[1], first[1])
    np.testing.assert_array_equal(result.data[0], first[0])  # the other slices are kept
    np.testing.assert_array_equal(result.data[2], first[2])
    assert [ly.name for ly in viewer.layers].count("stack deblurred") == 1


def test_regularization_follows_the_motion_source(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((64, 64), np.float32), name="img")
    field = make_sample("photograph", size=64).field
    data, kwargs, _ = field_layer_data(field, "img motion", source="estimate")
    viewer.add_vectors(data, **kwargs)
    widget = _widget(viewer)
    assert widget.regularization.value == pytest.approx(BLIND_REGULARIZATION)
    widget.source.value = "Uniform motion"
    assert widget.regularization.value == pytest.approx(DEFAULT_LAMBDA)
    widget.source.value = "Motion layer"
    assert widget.regularization.value == pytest.approx(BLIND_REGULARIZATION)


def test_uint16_result_is_not_saturated(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    sample = make_sample("microscopy", size=128)
    image = viewer.add_image(sample.blurred, name="cells")
    data, kwargs, _ = field_layer_data(sample.field, "cells motion")
    viewer.add_vectors(data, **kwargs)
    widget = _widget(viewer)
    widget.image.value = image
    widget.stages.value = 3
    _run(qtbot, widget)
    result = viewer.layers["cells deblurred"]
    assert result.data.dtype == np.uint16
    assert result.data.max() > image.contrast_limits[1]  # deblurring sharpened the peaks ...
    lo, hi = result.contrast_limits
    assert lo <= result.data.min() and hi >= result.data.max()  # ... and they are not clipped


def test_status_is_reset_after_a_rejected_run(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(make_sample("photograph", size=64).blurred, name="img")
    widget = _widget(viewer)
    widget.image.value = image
    widget.source.value = "Uniform motion"
    widget.stages.value = 1
    _run(qtbot, widget)
    assert "done" in widget.status.value and widget.progress.value == 1
    widget.source.value = "Motion layer"
    widget.run_button.clicked.emit()  # rejected: there is no motion layer
    assert not widget.running
    assert "done" not in widget.status.value and "motion layer" in widget.status.value
    assert widget.progress.value == 0


def test_tiny_image_estimate_warns(qtbot, make_napari_viewer, monkeypatch):
    from napari_motion_deblur.gui.widgets import estimate as module

    warnings = []
    monkeypatch.setattr(module, "show_warning", warnings.append)
    monkeypatch.setattr(module, "show_error", lambda message: None)
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.random((20, 20)).astype(np.float32), name="tiny")
    widget = _widget(viewer, "Estimate motion")
    widget.method.value = "spectral"
    widget.run_button.clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=60_000)
    assert warnings and "20x20" in warnings[0] and "unreliable" in warnings[0]
    assert "done" not in widget.status.value or "UNRELIABLE" in widget.status.value


def test_learned_clean_up_follows_the_source_unless_chosen(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    widget = _photo_deblur(viewer, 1, 1)
    assert widget.clean_up.value == "auto" and not widget.clean_up.native.isHidden()
    _run(qtbot, widget)
    plain = viewer.layers["photo deblurred"].data.copy()
    assert viewer.layers["photo deblurred"].metadata["deblurred_with"]["refine"] is False
    widget.clean_up.value = "on"  # a known field, the refiner asked for
    _run(qtbot, widget)
    result = viewer.layers["photo deblurred"]
    assert result.metadata["deblurred_with"]["refine"] is True
    assert np.abs(result.data - plain).max() > 1e-3
    widget.source.value = "PSF layer"  # a PSF has no lengths to read: hidden, and off
    assert widget.clean_up.native.isHidden()


def test_before_after_toggle_and_result_record(qtbot, make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    sample = make_sample("photograph", size=64)
    image = viewer.add_image(sample.blurred, name="photo")
    data, kwargs, _ = field_layer_data(sample.field, "photo motion", source="estimate")
    viewer.add_vectors(data, **kwargs)
    widget = _widget(viewer)
    widget.image.value = image
    widget.stages.value, widget.iterations.value = 2, 3
    widget.compare()  # nothing to compare yet: says so
    assert "run" in widget.status.value
    _run(qtbot, widget)
    result = viewer.layers["photo deblurred"]
    record = result.metadata["deblurred_with"]
    assert record["stages"] == 2 and record["iterations"] == 3
    assert record["regularization"] == "auto"  # deblur()'s rule: from the noise level
    assert record["regularization_base"] == pytest.approx(BLIND_REGULARIZATION)
    assert record["device"] == "cpu" and __version__ in record["package"]
    assert "photo motion" in record["motion"] and "estimate" in record["motion"]
    assert record["refine"] is True  # an estimated field: blind deblurring's refiner
    assert result.visible
    widget.compare_button.clicked.emit()
    assert not result.visible and image.visible and "before" in widget.status.value
    widget.compare_button.clicked.emit()
    assert result.visible and "after" in widget.status.value
    # the record is saved with the result (JSON in the TIFF description)
    [path] = result.save(str(tmp_path / "result.tif"), plugin=PLUGIN)
    saved = read_record(path)
    assert saved["stages"] == 2 and saved["motion"] == record["motion"]
    np.testing.assert_array_equal(tifffile.imread(path), result.data)
    [plain] = result.save(str(tmp_path / "plain.tif"))  # napari's own writer stays the default
    np.testing.assert_array_equal(tifffile.imread(plain), result.data)


@pytest.mark.parametrize("dtype", [np.int32, np.uint32, np.int64])
def test_widgets_scale_integers_by_the_core_rule(dtype):
    from napari_motion_deblur._validation import as_float_image
    from napari_motion_deblur.gui.widgets._jobs import IntensityMap

    values = (np.arange(64 * 64).reshape(64, 64) * 16 % 65536).astype(dtype)  # 16-bit data
    intensity = IntensityMap(values)
    core, _ = as_float_image(values)
    np.testing.assert_array_equal(intensity.to_unit(values), core[..., 0])  # not black
    back = intensity.from_unit(intensity.to_unit(values))
    assert back.dtype == values.dtype and np.array_equal(back, values)
    if np.issubdtype(dtype, np.signedinteger):
        with pytest.raises(ValueError, match="negative"):
            IntensityMap(values - 1)


def test_solver_and_shrinkage_reach_the_job_and_the_record(qtbot, make_napari_viewer):
    from napari_motion_deblur import deconvolve
    from napari_motion_deblur.gui.widgets._jobs import run_deblur

    viewer = make_napari_viewer()
    widget = _photo_deblur(viewer, 2, 1)
    assert (widget.snapshot().settings.solver, widget.snapshot().settings.model) == \
        ("irc", "analytic")
    widget.solver.value, widget.shrinkage.value = "pcg", "learned"
    job = widget.snapshot()
    assert (job.settings.solver, job.settings.operator, job.settings.model) == \
        ("pcg", "exact", "learned")
    *_, last = run_deblur(job)
    expected = deconvolve(job.planes[0][1], job.motion, settings=job.settings)
    np.testing.assert_array_equal(last.estimate, expected)
    _run(qtbot, widget)
    record = viewer.layers["photo deblurred"].metadata["deblurred_with"]
    assert (record["solver"], record["model"]) == ("pcg", "learned")
    psf = viewer.add_image(np.ones((3, 3), np.float32) / 9, name="psf")
    widget.source.value, widget.psf_layer.value = "PSF layer", psf
    assert widget.solver.native.isHidden()  # a PSF has no per-pixel blur to solve with
    assert widget.snapshot().settings.solver == "irc"


def test_linear_light_reaches_the_job_and_the_record(qtbot, make_napari_viewer):
    from napari_motion_deblur import deconvolve
    from napari_motion_deblur.gui.widgets._jobs import run_deblur

    viewer = make_napari_viewer()
    widget = _photo_deblur(viewer, 2, 1)
    assert widget.snapshot().settings.linear_light is False
    widget.linear_light.value = True
    job = widget.snapshot()
    assert job.settings.linear_light is True
    *_, last = run_deblur(job)
    expected = deconvolve(job.planes[0][1], job.motion, settings=job.settings)
    np.testing.assert_array_equal(last.estimate, expected)
    plain = deconvolve(job.planes[0][1], job.motion,
                       settings=job.settings.replace(linear_light=False))
    assert not np.allclose(last.estimate, plain, atol=1e-3)
    _run(qtbot, widget)
    assert viewer.layers["photo deblurred"].metadata["deblurred_with"]["linear_light"] is True


@pytest.mark.parametrize("confirmed, factor", [(1.0, 1.0), (0.5, 1.5), (None, 2.0)])
def test_an_estimates_tv_weight_follows_its_confidence_as_in_deblur(make_napari_viewer,
                                                                    confirmed, factor):
    viewer = make_napari_viewer()
    sample = make_sample("photograph", size=64)
    image = viewer.add_image(sample.blurred, name="photo")
    confidence = (None if confirmed is None
                  else np.full(sample.blurred.shape[:2], confirmed, np.float32))
    data, kwargs, _ = field_layer_data(sample.field, "photo motion", source="estimate",
                                       confidence=confidence)
    viewer.add_vectors(data, **kwargs)
    widget = _widget(viewer)
    widget.image.value = image
    assert widget.regularization.value == pytest.approx(BLIND_REGULARIZATION)
    job = widget.snapshot()
    assert job.settings.regularization == "auto"
    assert job.settings.base == pytest.approx(factor * DEFAULT_LAMBDA)
    widget.source.value = "Uniform motion"  # a known motion: the non-blind weight, typed as is
    assert widget.snapshot().settings.base == pytest.approx(DEFAULT_LAMBDA)


def test_a_motion_layer_longer_than_the_bank_is_clipped_with_a_warning(make_napari_viewer,
                                                                       monkeypatch):
    from napari_motion_deblur import MotionField
    from napari_motion_deblur.gui.widgets import _common

    warnings = []
    monkeypatch.setattr(_common, "show_warning", warnings.append)
    viewer = make_napari_viewer()
    widget = _photo_deblur(viewer, 1, 1)
    long = MotionField.uniform((64, 64), 40.0, 10.0)
    widget.motion_layer.value = _common.show_field(viewer, long, "long motion", source="file")
    widget.source.value = "Motion layer"
    job = widget.snapshot()
    assert float(job.motion.length.max()) == 35.0 and np.allclose(job.motion.angle, 10.0)
    assert len(warnings) == 1 and "clipped to 35 px" in warnings[0]
    assert "'long motion' (file)" in widget._record["motion"]
