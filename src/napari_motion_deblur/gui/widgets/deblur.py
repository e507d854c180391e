"""The "Deblur" dock widget: non-blind deconvolution with live per-stage results."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
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

from ..._validation import is_dask
from ...estimation.api import BLIND_REGULARIZATION
from ...motion import MAX_LENGTH
from ...settings import (
    CONFIRMED_BASE,
    MODELS,
    SOLVERS,
    DeblurSettings,
    DeconvolutionSettings,
)
from ...solvers.irc import DEFAULT_LAMBDA, MAX_STAGES
from ..field_editing import CONFIDENCE_KEY, SOURCE_KEY
from ..io import RECORD_KEY
from ._common import (
    DEVICES,
    MOTION_SOURCES,
    chosen_motion,
    current_index,
    follow_motion_layers,
    layer_choices,
    read_planes,
    resolve_device_name,
    short_dock_title,
    snapshot_or_notify,
    spatial_ndim,
    unwrap,
    widen_contrast,
)
from ._jobs import DeblurJob, DeblurUpdate, JobError, deblur_record, run_deblur
from ._region import preview_crop, show_preview

if TYPE_CHECKING:
    import napari

#: The learned refiner: "auto" = on for an estimated field (as deblur()), off for a known one.
CLEAN_UP = ("auto", "on", "off")
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
        short_dock_title(self, "Deblur")
        self.image = ComboBox(label="Image", choices=layer_choices(viewer, "image"))
        self.source = ComboBox(label="Motion from", choices=MOTION_SOURCES,
                               value=MOTION_SOURCES[0])
        self.motion_layer = ComboBox(label="Motion layer", choices=layer_choices(viewer, "vectors"))
        self.length = FloatSpinBox(label="Length (px)", min=0.0, max=MAX_LENGTH, step=0.5,
                                   value=9.0)
        self.angle = FloatSpinBox(label="Angle (deg)", min=0.0, max=179.9, step=1.0, value=0.0)
        self.psf_layer = ComboBox(label="PSF layer", choices=layer_choices(viewer, "image"))
        self.stages = SpinBox(label="Stages", min=1, max=MAX_STAGES, value=5)
        self.iterations = SpinBox(label="Iterations", min=1, max=10, value=2)
        self.regularization = FloatSpinBox(
            label="Regularization", min=0.0, max=0.1, step=0.0001, value=DEFAULT_LAMBDA,
            tooltip=f"TV weight. For an estimate, the default {BLIND_REGULARIZATION:g} means "
            f"deblur()'s rule: from the noise level, starting at {BLIND_REGULARIZATION:g} where "
            f"nothing is confirmed and at {CONFIRMED_BASE:g} where the whole estimate is; a "
            "typed value is used as it is")
        self.regularization.native.setDecimals(5)
        self.device = ComboBox(label="Device", choices=DEVICES, value="auto")
        self.clean_up = ComboBox(label="Learned clean-up", choices=CLEAN_UP, value="auto",
                                 tooltip="The refiner trained on blind results: removes ringing "
                                 "and JPEG/noise amplification (a wider one on JPEG images); "
                                 "costs a little on clean data. auto: on for an estimated field")
        self.solver = ComboBox(label="Solver", choices=SOLVERS, value=SOLVERS[0],
                               tooltip="irc: the paper's residual compensation. pcg: conjugate "
                               "gradients on the exact per-pixel blur, ~1 dB better where the "
                               "motion varies, ~1.8x the time (motion only; try 10 stages x 5)")
        self.shrinkage = ComboBox(label="Shrinkage", choices=MODELS, value=MODELS[0],
                                  tooltip="IRC-Net's thresholds: analytic, or learned on "
                                  "Train400")
        self.linear_light = CheckBox(text="Photo (sRGB): deblur in linear light", value=False,
                                     tooltip="For JPEG/sRGB photographs: deconvolve where their "
                                     "blur happened, in linear light. Off for linear data "
                                     "(microscopy, raw frames)")
        self.stack_mode = ComboBox(label="Stack", choices=STACK_MODES, value=STACK_MODES[0])
        self.region = ComboBox(label="Preview region", choices=layer_choices(viewer, "shapes"),
                               nullable=True, tooltip="A Shapes layer (its shapes' bounding box); "
                               "empty = the part of the image in view (at most 256 x 256 px)")
        self.preview_button = PushButton(text="Preview",
                                         tooltip="Deblur only the region, in about a second")
        self.run_button = PushButton(text="Run")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.compare_button = PushButton(text="Before/after",
                                         tooltip="Toggle between the input and the result")
        self.progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self.status = Label(label="", value="")
        self.status.native.setWordWrap(True)
        self.extend([self.image, self.source, self.motion_layer, self.length, self.angle,
                     self.psf_layer, self.stages, self.iterations, self.regularization,
                     self.solver, self.shrinkage, self.device, self.clean_up,
                     self.linear_light, self.stack_mode, self.region,
                     Container(widgets=[self.preview_button, self.run_button, self.cancel_button,
                                        self.compare_button], layout="horizontal", labels=False),
                     self.progress, self.status])
        self.worker = None
        self.n_updates = 0
        self._result = None
        self._result_target = None
        self._into_stack = False
        self._record = {}
        self._map = None
        self._start_plane = None
        self._target = None
        self._preview = None
        self._created = None
        self._started = 0.0
        self.source.changed.connect(self._sync_visibility)
        self.image.changed.connect(self._sync_visibility)
        self.run_button.changed.connect(self.run)
        self.preview_button.changed.connect(self.preview)
        self.cancel_button.changed.connect(self.cancel)
        self.compare_button.changed.connect(self.compare)
        self.source.changed.connect(self._sync_regularization)
        self.motion_layer.changed.connect(self._sync_regularization)
        self._follow = follow_motion_layers(viewer, self.motion_layer)
        self._sync_visibility()
        self._sync_regularization()

    @property
    def running(self) -> bool:
        """Whether a deblur run is in progress."""
        return self.worker is not None

    def _sync_visibility(self, *_):
        source = self.source.value
        self.motion_layer.visible = source == MOTION_SOURCES[0]
        self.length.visible = self.angle.visible = source == MOTION_SOURCES[1]
        self.psf_layer.visible = source == MOTION_SOURCES[2]
        # the refiner reads a field's lengths
        self.clean_up.visible = source != MOTION_SOURCES[2]
        self.solver.visible = source != MOTION_SOURCES[2]  # pcg solves with a field's exact blur
        layer = self.image.value
        self.stack_mode.visible = layer is not None and spatial_ndim(layer) > 0

    def _estimated(self) -> bool:
        """Whether the chosen motion is an estimate (blind settings apply), not a known field."""
        layer = self.motion_layer.value
        return (self.source.value == MOTION_SOURCES[0] and layer is not None
                and str(layer.metadata.get(SOURCE_KEY, "")).startswith("estimate"))

    def _sync_regularization(self, *_):
        """Default regularization for the motion source: twice as much for an estimate.

        A value the user typed (neither default) is left alone.
        """
        estimated = self._estimated()
        current = float(self.regularization.value)
        if any(np.isclose(current, d) for d in (DEFAULT_LAMBDA, BLIND_REGULARIZATION)):
            self.regularization.value = BLIND_REGULARIZATION if estimated else DEFAULT_LAMBDA

    # ------------------------------------------------------------------ snapshot
    def _motion(self, shape):
        """The motion to deblur with and a description of where it comes from."""
        return chosen_motion(self.source.value, (self.length.value, self.angle.value),
                             self.psf_layer.value, self.motion_layer.value, shape)

    def snapshot(self, preview: bool = False) -> DeblurJob:
        """Copy the current parameters and image data into a :class:`DeblurJob`.

        With ``preview``, only the displayed plane's preview region (and a margin) is copied.
        """
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer to deblur")
        if layer.multiscale:
            raise ValueError("multiscale images are not supported; use a single-scale layer")
        lead = spatial_ndim(layer)
        if lead > 0 and self.stack_mode.value == STACK_MODES[1] and not preview:
            indices = list(np.ndindex(*layer.data.shape[:lead]))
        else:
            indices = [current_index(layer, self._viewer)]
        planes_raw, self._map = read_planes(layer, indices)
        self._start_plane = planes_raw[0]  # a single plane's result starts as it
        planes = tuple((idx, self._map.to_unit(p)) for idx, p in zip(indices, planes_raw,
                                                                    strict=True))
        motion, about = self._motion(planes[0][1].shape[:2])
        self._preview = None
        if preview:
            planes, motion, self._preview = preview_crop(self._viewer, layer, self.region.value,
                                                         planes, motion)
        device, warning = resolve_device_name(self.device.value)
        if warning:
            show_warning(warning)
        # An estimated field gets blind deblurring's settings (the node operator averages the
        # noisy estimate over ~48 px); a known one the non-blind defaults (exact data term).
        # Left at the blind default, an estimate's weight follows the noise level as in
        # deblur() ("auto" from that default); a typed value is used as it is.
        estimated = self._estimated()
        base = (DeblurSettings().deconvolution_for(
            self.motion_layer.value.metadata.get(CONFIDENCE_KEY)) if estimated
            else DeconvolutionSettings())
        weight = float(self.regularization.value)
        if estimated and np.isclose(weight, BLIND_REGULARIZATION):
            weight = "auto"
        # A colour preview deconvolves the luminance only (~3x faster; close to the full run).
        refine = {"auto": base.refine, "on": True, "off": False}[self.clean_up.value]
        solver = self.solver.value if self.source.value != MOTION_SOURCES[2] else SOLVERS[0]
        settings = base.replace(stages=int(self.stages.value),
                                iterations=int(self.iterations.value),
                                regularization=weight, device=device,
                                colour="luminance" if preview else "channels",
                                refine=refine and self.source.value != MOTION_SOURCES[2],
                                # pcg solves with the exact blur, an estimate's too
                                solver=solver, operator="exact" if solver == "pcg"
                                else base.operator, model=self.shrinkage.value,
                                linear_light=bool(self.linear_light.value))
        job = DeblurJob(planes=planes, motion=motion, settings=settings, intensity=self._map)
        self._target = (layer, len(indices) > 1)
        self._record = deblur_record(layer.name, about, settings, indices)
        if self._preview is not None:
            self._record["region"] = list(self._preview[0])
        return job

    # ------------------------------------------------------------------- running
    def run(self, *_) -> None:
        """Start deblurring in a thread worker (errors become notifications)."""
        self._start(preview=False)

    def preview(self, *_) -> None:
        """Deblur only the preview region of the displayed plane into "<image> preview"."""
        self._start(preview=True)

    def _start(self, preview: bool) -> None:
        job = snapshot_or_notify(self, "Deblur", preview=preview)
        if job is None:
            return
        self._started = time.perf_counter()
        self.n_updates = 0
        self._result = None
        self._result_target = None
        self._created = None
        if self._preview is None:  # now, while the CPU is free: no stall once the run is going
            self._result_target = self._result_layer()
        self.progress.max = len(job.planes) * job.settings.stages
        self.progress.value = 0
        self.status.value = "starting..."
        worker = create_worker(run_deblur, job, _start_thread=False)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_errored)
        worker.aborted.connect(self._on_aborted)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.enabled = self.preview_button.enabled = False
        self.cancel_button.enabled = True
        worker.start()

    def cancel(self, *_) -> None:
        """Ask the running worker to stop after the current stage."""
        if self.worker is not None:
            self.worker.quit()
            self.status.value = "cancelling..."

    def _result_layer(self):
        """The layer the run writes into: a compatible earlier result, or a new layer.

        A whole-stack result is kept when a single slice is rerun (the slice is written into
        it); an earlier result of another shape is left alone and a new layer is added.
        """
        layer, stack = self._target
        lead = spatial_ndim(layer)
        name = f"{layer.name} deblurred"
        plane_shape = layer.data.shape[lead:]
        candidates = [ly for ly in self._viewer.layers
                      if (ly.name == name or ly.name.startswith(name + " ["))
                      and type(ly).__name__ == "Image" and ly.rgb == layer.rgb
                      and isinstance(ly.data, np.ndarray) and ly.data.dtype == self._map.dtype]
        wanted = [layer.data.shape] if stack else [layer.data.shape, plane_shape]
        for shape in wanted:  # a stack result first: a slice rerun writes into it
            existing = next((ly for ly in candidates if ly.data.shape == shape), None)
            if existing is not None:
                existing.visible = True
                self._result, self._into_stack = existing.data, len(shape) > len(plane_shape)
                return existing
        self._into_stack = stack
        # the input until the first stage arrives; a dask stack is not read in the GUI thread:
        # its slices show 0 until deblurred
        start = layer.data if stack else self._start_plane
        self._result = (np.zeros(start.shape, self._map.dtype) if is_dask(start)
                        else np.array(start, dtype=self._map.dtype, copy=True))
        skip = 0 if stack else lead
        look = {} if layer.rgb else {"colormap": layer.colormap}
        self._created = unwrap(self._viewer.add_image(
            self._result, name=name, rgb=layer.rgb, scale=layer.scale[skip:],
            translate=layer.translate[skip:], contrast_limits=layer.contrast_limits,
            blending=layer.blending, **look))
        return self._created

    def _on_yielded(self, update: DeblurUpdate | JobError) -> None:
        if isinstance(update, JobError):
            self._on_errored(update.message)
            return
        if self._target is None:
            return
        if self._preview is not None and update.stage < update.stages:
            self._count(update)  # a preview takes about a second: only its result is drawn
            return
        values = update.values if update.values is not None else self._map.from_unit(
            update.estimate)
        if self._preview is not None:
            shown = show_preview(self._viewer, self._target[0], values, self._preview)
            shown.metadata[RECORD_KEY] = dict(self._record, stages_done=update.done)
            self._count(update)
            return
        if self._result_target is None:
            self._result_target = self._result_layer()
        result_layer = self._result_target
        if self._into_stack:
            self._result[update.index] = values
        else:
            self._result[...] = values
        result_layer.data = self._result
        widen_contrast(result_layer, values)
        result_layer.metadata[RECORD_KEY] = dict(self._record, stages_done=update.done)
        result_layer.refresh()
        self._count(update)

    def _count(self, update: DeblurUpdate) -> None:
        self.n_updates += 1
        self.progress.value = update.done
        where = f", slice {update.plane + 1}/{update.planes}" if update.planes > 1 else ""
        self.status.value = f"stage {update.stage}/{update.stages}{where}"

    def compare(self, *_) -> None:
        """Toggle between the input image and its result (before/after)."""
        layer = self.image.value
        name = None if layer is None else f"{layer.name} deblurred"
        result = next((ly for ly in self._viewer.layers if ly.name == name), None)
        if result is None:
            self.status.value = "nothing to compare: run Deblur first"
            return
        layer.visible = True
        result.visible = not result.visible
        self._viewer.layers.selection.active = result if result.visible else layer
        self.status.value = ("showing after (deblurred)" if result.visible
                             else "showing before (input)")

    def _on_errored(self, err) -> None:
        show_error(f"Deblur failed: {err}")
        self.status.value = "failed"
        self._drop_unused_result()

    def _drop_unused_result(self) -> None:
        """Remove a result layer this run added but never wrote (it would just be the input)."""
        if self.n_updates == 0 and self._created is not None and self._created in \
                self._viewer.layers:
            self._viewer.layers.remove(self._created)
        self._created = None

    def _on_aborted(self) -> None:
        show_info("Deblur cancelled; the result shows the last finished stage.")
        self.status.value = f"cancelled after {self.n_updates} stage(s)"
        self._drop_unused_result()

    def _on_finished(self) -> None:
        self.worker = None
        self.run_button.enabled = self.preview_button.enabled = True
        self.cancel_button.enabled = False
        if self.status.value.startswith("stage"):
            seconds = time.perf_counter() - self._started
            what = "preview" if self._preview is not None else "done"
            self.status.value += f" - {what} ({seconds:.1f} s)"

