"""The "Deblur" dock widget: non-blind deconvolution with live per-stage results."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.qt.threading import create_worker
from napari.utils.notifications import show_error, show_info, show_warning

from ...motion import MAX_LENGTH
from ...solvers.irc import DEFAULT_LAMBDA, MAX_STAGES
from ._common import (
    DEVICES,
    IntensityMap,
    current_index,
    find_layer,
    layer_choices,
    layer_field,
    resolve_device_name,
    snapshot_or_notify,
    spatial_ndim,
)
from ._jobs import DeblurJob, DeblurUpdate, JobError, run_deblur

if TYPE_CHECKING:
    import napari

SOURCES = ("Motion layer", "Uniform motion", "PSF layer")
STACK_MODES = ("current slice", "all slices")


class DeblurWidget(Container):
    """Deblur an image layer with a motion layer, a uniform motion or a PSF layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are read and to which the result is added.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        self.image = ComboBox(label="Image", choices=layer_choices(viewer, "image"))
        self.source = ComboBox(label="Motion from", choices=SOURCES, value=SOURCES[0])
        self.motion_layer = ComboBox(label="Motion layer", choices=layer_choices(viewer, "vectors"))
        self.length = FloatSpinBox(label="Length (px)", min=0.0, max=MAX_LENGTH, step=0.5,
                                   value=9.0)
        self.angle = FloatSpinBox(label="Angle (deg)", min=0.0, max=179.9, step=1.0, value=0.0)
        self.psf_layer = ComboBox(label="PSF layer", choices=layer_choices(viewer, "image"))
        self.stages = SpinBox(label="Stages", min=1, max=MAX_STAGES, value=5)
        self.iterations = SpinBox(label="Iterations", min=1, max=10, value=2)
        self.regularization = FloatSpinBox(label="Regularization", min=0.0, max=0.1,
                                           step=0.0001, value=DEFAULT_LAMBDA)
        self.regularization.native.setDecimals(5)
        self.device = ComboBox(label="Device", choices=DEVICES, value="auto")
        self.stack_mode = ComboBox(label="Stack", choices=STACK_MODES, value=STACK_MODES[0])
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self.status = Label(label="", value="")
        self.extend([self.image, self.source, self.motion_layer, self.length, self.angle,
                     self.psf_layer, self.stages, self.iterations, self.regularization,
                     self.device, self.stack_mode,
                     Container(widgets=[self.run_button, self.cancel_button], layout="horizontal",
                               labels=False),
                     self.progress, self.status])
        self.worker = None
        self.n_updates = 0
        self._result = None
        self._map = None
        self._target = None
        self.source.changed.connect(self._sync_visibility)
        self.image.changed.connect(self._sync_visibility)
        self.run_button.changed.connect(self.run)
        self.cancel_button.changed.connect(self.cancel)
        self._sync_visibility()

    @property
    def running(self) -> bool:
        """Whether a deblur run is in progress."""
        return self.worker is not None

    def _sync_visibility(self, *_):
        source = self.source.value
        self.motion_layer.visible = source == SOURCES[0]
        self.length.visible = self.angle.visible = source == SOURCES[1]
        self.psf_layer.visible = source == SOURCES[2]
        layer = self.image.value
        self.stack_mode.visible = layer is not None and spatial_ndim(layer) > 0

    # ------------------------------------------------------------------ snapshot
    def _motion(self, shape):
        source = self.source.value
        if source == SOURCES[1]:
            return (float(self.length.value), float(self.angle.value))
        if source == SOURCES[2]:
            psf = self.psf_layer.value
            if psf is None:
                raise ValueError("choose a PSF image layer")
            return np.array(psf.data, dtype=np.float32, copy=True).squeeze()
        layer = self.motion_layer.value
        if layer is None:
            raise ValueError("no motion layer: estimate motion first, open a field, or choose "
                             "'Uniform motion'")
        field = layer_field(layer, shape)
        if field.shape != tuple(shape):
            raise ValueError(f"motion layer {layer.name!r} is {field.shape[0]}x{field.shape[1]} "
                             f"but the image is {shape[0]}x{shape[1]}")
        if float(field.length.max()) > MAX_LENGTH:
            show_warning(f"Motion longer than {MAX_LENGTH:g} px was clipped to {MAX_LENGTH:g} px.")
            field = field.clipped(warn=False)
        return field

    def snapshot(self) -> DeblurJob:
        """Copy the current parameters and image data into a :class:`DeblurJob`."""
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer to deblur")
        if layer.multiscale:
            raise ValueError("multiscale images are not supported; use a single-scale layer")
        lead = spatial_ndim(layer)
        if lead > 0 and self.stack_mode.value == STACK_MODES[1]:
            indices = list(np.ndindex(*layer.data.shape[:lead]))
        else:
            indices = [current_index(layer, self._viewer)]
        planes_raw = [np.asarray(layer.data[idx]) for idx in indices]
        self._map = IntensityMap(np.stack(planes_raw) if len(planes_raw) > 1 else planes_raw[0])
        planes = tuple((idx, self._map.to_unit(p)) for idx, p in zip(indices, planes_raw,
                                                                    strict=True))
        device, warning = resolve_device_name(self.device.value)
        if warning:
            show_warning(warning)
        self._target = (layer, len(indices) > 1)
        return DeblurJob(planes=planes, motion=self._motion(planes[0][1].shape[:2]),
                         stages=int(self.stages.value), iterations=int(self.iterations.value),
                         regularization=float(self.regularization.value), device=device)

    # ------------------------------------------------------------------- running
    def run(self, *_) -> None:
        """Start deblurring in a thread worker (errors become notifications)."""
        job = snapshot_or_notify(self, "Deblur")
        if job is None:
            return
        self.n_updates = 0
        self._result = None
        self.progress.max = len(job.planes) * job.stages
        self.progress.value = 0
        self.status.value = "starting..."
        worker = create_worker(run_deblur, job, _start_thread=False)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_errored)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.enabled = False
        self.cancel_button.enabled = True
        worker.start()

    def cancel(self, *_) -> None:
        """Ask the running worker to stop after the current stage."""
        if self.worker is not None:
            self.worker.quit()
            self.status.value = "cancelling..."

    def _result_layer(self, update: DeblurUpdate):
        layer, stack = self._target
        name = f"{layer.name} deblurred"
        shape = layer.data.shape if stack else layer.data.shape[spatial_ndim(layer):]
        dtype = self._map.dtype
        if self._result is None:
            self._result = np.zeros(shape, dtype)
        viewer = self._viewer
        existing = find_layer(viewer, name)
        if existing is not None and (type(existing).__name__ != "Image"
                                     or existing.data.shape != shape or existing.rgb != layer.rgb):
            viewer.layers.remove(existing)
            existing = None
        if existing is None:
            lead = 0 if stack else spatial_ndim(layer)
            look = {} if layer.rgb else {"colormap": layer.colormap}
            existing = viewer.add_image(
                self._result, name=name, rgb=layer.rgb, scale=layer.scale[lead:],
                translate=layer.translate[lead:], contrast_limits=layer.contrast_limits,
                blending=layer.blending, **look)
        return existing

    def _on_yielded(self, update: DeblurUpdate | JobError) -> None:
        if isinstance(update, JobError):
            self._on_errored(update.message)
            return
        if self._target is None:
            return
        values = self._map.from_unit(update.estimate)
        result_layer = self._result_layer(update)
        if self._target[1]:
            self._result[update.index] = values
        else:
            self._result[...] = values
        result_layer.data = self._result
        result_layer.refresh()
        self.n_updates += 1
        self.progress.value = update.done
        where = f", slice {update.plane + 1}/{update.planes}" if update.planes > 1 else ""
        self.status.value = f"stage {update.stage}/{update.stages}{where}"

    def _on_errored(self, err) -> None:
        show_error(f"Deblur failed: {err}")
        self.status.value = "failed"

    def _on_aborted(self) -> None:
        show_info("Deblur cancelled; the result shows the last finished stage.")
        self.status.value = f"cancelled after {self.n_updates} stage(s)"

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.enabled = True
        self.cancel_button.enabled = False
        if self.status.value.startswith("stage"):
            self.status.value += " - done"
