"""dask-backed image layers in the Estimate and Deblur widgets (issue 9, "widgets accept
dask-backed layers"): the result equals that of the same data as a numpy array, and a run
reads only the planes (or the preview region) it works on, not the whole stack."""

from __future__ import annotations

import numpy as np
import pytest

from napari_motion_deblur.gui.field_editing import FIELD_KEY
from napari_motion_deblur.gui.sample_data import make_sample
from napari_motion_deblur.gui.widgets._jobs import run_deblur

da = pytest.importorskip("dask.array")
pytestmark = pytest.mark.gui
PLUGIN = "napari-motion-deblur"


class _Reads:
    """A dask view of ``data`` that records the chunks computed from it."""

    def __init__(self, data, chunks):
        self.chunks = []
        self.array = da.from_array(data, chunks=chunks).map_blocks(
            self._read, dtype=data.dtype, meta=np.empty((0,) * data.ndim, data.dtype))

    def _read(self, block, block_info=None):
        if block.size and block_info:
            self.chunks.append(block_info[0]["chunk-location"])
        return block

    def planes(self) -> set:
        """The stack indices (first axis) read since the last :meth:`clear`."""
        return {location[0] for location in self.chunks}

    def clear(self) -> None:
        self.chunks.clear()


def _widget(viewer, name):
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    widget.reset_choices()
    return widget


def _click(qtbot, widget, button="run_button"):
    getattr(widget, button).clicked.emit()
    qtbot.waitUntil(lambda: not widget.running, timeout=120_000)


def _stack():
    blurred = make_sample("microscopy", size=96, seed=2).blurred  # uint16
    return np.stack([blurred, blurred[::-1], blurred[:, ::-1]])


def _deblurred(qtbot, viewer, data, *, mode=None):
    """Deblur layer ``data`` (uniform motion, 2 stages) through the widget; the result layer's
    data."""
    name = f"img{len(viewer.layers)}"
    layer = viewer.add_image(data, name=name)
    widget = _widget(viewer, "Deblur")
    widget.image.value = layer
    widget.source.value = "Uniform motion"
    widget.length.value, widget.angle.value = 7.0, 30.0
    widget.stages.value = 2
    if mode is not None:
        widget.stack_mode.value = mode
    _click(qtbot, widget)
    assert widget.status.value.startswith("stage 2/2"), widget.status.value
    return viewer.layers[f"{name} deblurred"].data


def test_deblur_widget_on_a_dask_image_equals_numpy(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    image = _stack()[0]
    lazy = _deblurred(qtbot, viewer, da.from_array(image, chunks=48))
    expected = _deblurred(qtbot, viewer, image)
    assert isinstance(lazy, np.ndarray) and lazy.dtype == np.uint16
    np.testing.assert_array_equal(lazy, expected)


def test_deblur_widget_on_a_dask_stack_reads_only_what_it_deblurs(qtbot, make_napari_viewer):
    viewer = make_napari_viewer()
    stack = _stack()
    reads = _Reads(stack, (1, 96, 96))
    # current slice (slice 1): only that plane is read by the run
    layer = viewer.add_image(reads.array, name="lazy")
    viewer.dims.set_point(0, 1)
    widget = _widget(viewer, "Deblur")
    widget.image.value = layer
    widget.source.value = "Uniform motion"
    widget.length.value, widget.angle.value = 7.0, 30.0
    widget.stages.value = 2
    reads.clear()
    _click(qtbot, widget)
    assert reads.planes() <= {1}
    one = viewer.layers["lazy deblurred"].data.copy()
    # all slices: every plane, each read once by the run, equal to the numpy stack's result
    widget.stack_mode.value = "all slices"
    reads.clear()
    _click(qtbot, widget)
    assert sorted(reads.chunks) == [(0, 0, 0), (1, 0, 0), (2, 0, 0)]
    result = next(ly.data for ly in viewer.layers
                  if ly.name.startswith("lazy deblurred") and ly.data.ndim == 3)
    expected = _deblurred(qtbot, viewer, stack, mode="all slices")
    assert result.shape == stack.shape and result.dtype == stack.dtype
    np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(one, expected[1])


def test_deblur_preview_of_a_dask_image_reads_only_the_region(make_napari_viewer):
    viewer = make_napari_viewer()
    image = make_sample("microscopy", size=256, seed=2).blurred
    reads = _Reads(image, 64)
    layer = viewer.add_image(reads.array, name="lazy")
    region = viewer.add_shapes([np.array([[10, 10], [10, 40], [40, 40], [40, 10]])],
                               name="region")
    widget = _widget(viewer, "Deblur")
    widget.image.value, widget.region.value = layer, region
    widget.source.value = "Uniform motion"
    widget.stages.value = 1
    reads.clear()
    job = widget.snapshot(preview=True)  # what the Preview button runs, without the thread
    *_, last = run_deblur(job)
    assert set(reads.chunks) == {(0, 0), (0, 1), (1, 0), (1, 1)}  # the region + 48-px margin
    layer.data = image  # the same crop from an in-memory layer
    reference = widget.snapshot(preview=True)
    *_, expected = run_deblur(reference)
    np.testing.assert_array_equal(last.values, expected.values)


@pytest.mark.parametrize("stack", [False, True])
def test_estimate_widget_on_a_dask_layer_equals_numpy(qtbot, make_napari_viewer, stack):
    viewer = make_napari_viewer()
    blurred = make_sample("photograph", size=128, seed=2).blurred
    data = np.stack([blurred[::-1], blurred]) if stack else blurred
    reads = _Reads(data, (1, 128, 128) if stack else 64)
    fields = []
    for name, values in (("lazy", reads.array), ("eager", data)):
        layer = viewer.add_image(values, name=name)
        if stack:
            viewer.dims.set_point(0, 1)
        widget = _widget(viewer, "Estimate motion")
        widget.image.value = layer
        widget.method.value = "spectral"  # weight-free and fast: the wiring is tested here
        reads.clear()
        _click(qtbot, widget)
        assert widget.status.value.startswith("done"), widget.status.value
        fields.append(viewer.layers[f"{name} motion"].metadata[FIELD_KEY])
        if name == "lazy" and stack:
            assert reads.planes() <= {1}
    assert fields[0] == fields[1]


@pytest.mark.parametrize("values", [np.linspace(0, 900, 4 * 9 * 9, dtype=np.float32),
                                    np.arange(4 * 9 * 9, dtype=np.int32) * 100])
def test_intensity_map_of_a_dask_stack_equals_numpy(values):
    from napari_motion_deblur.gui.widgets._jobs import IntensityMap

    stack = values.reshape(4, 9, 9)
    lazy, eager = IntensityMap(da.from_array(stack, chunks=(1, 9, 9))), IntensityMap(stack)
    assert (lazy.offset, lazy.scale, lazy.dtype) == (eager.offset, eager.scale, eager.dtype)
    plane = lazy.to_unit(da.from_array(stack[2]))
    assert isinstance(plane, da.Array)  # read where it is used (the worker)
    np.testing.assert_array_equal(plane.compute(), eager.to_unit(stack[2]))


def test_a_single_dask_plane_is_read_by_the_worker_not_the_gui_thread(make_napari_viewer):
    """Deblur and Estimate snapshots of a one-plane dask layer read nothing (uint16: the
    intensity rule needs no range); the job's worker reads it, with the numpy layer's result."""
    from napari_motion_deblur.gui.widgets._jobs import EstimateResult, run_estimate

    viewer = make_napari_viewer()
    image = make_sample("microscopy", size=96, seed=2).blurred
    reads = _Reads(image, 48)
    layer = viewer.add_image(reads.array, name="lazy")
    deblur = _widget(viewer, "Deblur")
    deblur.image.value = layer
    deblur.source.value = "Uniform motion"
    deblur.length.value, deblur.angle.value = 7.0, 30.0
    deblur.stages.value = 1
    estimate = _widget(viewer, "Estimate motion")
    estimate.image.value = layer
    estimate.method.value = "spectral"
    reads.clear()
    jobs = deblur.snapshot(), estimate.snapshot()
    assert reads.chunks == []
    *_, lazy_deblurred = run_deblur(jobs[0])
    *_, lazy_field = run_estimate(jobs[1])
    assert len(reads.chunks) >= 4  # every chunk, read by the runs
    layer.data = image
    *_, deblurred = run_deblur(deblur.snapshot())
    *_, field = run_estimate(estimate.snapshot())
    np.testing.assert_array_equal(lazy_deblurred.values, deblurred.values)
    assert isinstance(lazy_field, EstimateResult) and lazy_field.field == field.field
