"""The "Estimate motion" dock widget: per-pixel motion from a blurred image."""

from __future__ import annotations

import time
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
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QTimer

from ..._validation import is_dask
from ...estimation.api import BLIND_LENGTH_SCALE, DEFAULT_PASSES
from ...estimation.motionnet import MAX_PASSES
from ...motion import MotionField
from ...settings import EstimationSettings
from ..field_editing import PREVIEW_SOURCE
from ._common import (
    DEVICES,
    IntensityMap,
    current_index,
    field_legend,
    layer_choices,
    plane_geometry,
    resolve_device_name,
    short_dock_title,
    show_field,
    snapshot_or_notify,
)
from ._jobs import EstimateJob, EstimateResult, EstimateUpdate, JobError, run_estimate
from ._region import limit_box, shapes_box, view_box, with_margin

if TYPE_CHECKING:
    import napari

#: Displayed method name -> ``estimate_motion(method=...)``.
METHODS = {"Motion-Net": "motionnet", "spectral": "spectral"}
#: Below this side (px) an estimate is unreliable: Motion-Net and the cepstrum see 128-px tiles.
MIN_RELIABLE_SIDE = 128
#: Context (px) around a preview region that the estimator sees too.
ESTIMATE_MARGIN = 64
#: Motion-Net passes of a preview (at most the widget's): one pass keeps a 256^2 preview
#: near a second on a 2-core CPU (benchmarks/preview_speed.py); Estimate uses the widget's.
PREVIEW_PASSES = 1


class EstimateWidget(Container):
    """Estimate the motion field of an image layer into a Vectors layer "<image> motion".

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are read and to which the motion layer is added.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        short_dock_title(self, "Estimate")
        self.image = ComboBox(label="Image", choices=layer_choices(viewer, "image"))
        self.method = ComboBox(label="Method", choices=list(METHODS), value="Motion-Net")
        self.passes = SpinBox(label="Passes", min=1, max=MAX_PASSES, value=DEFAULT_PASSES,
                              tooltip="Motion-Net runs on this many turns/mirrors of the image "
                                      "and averages them: more is steadier, each costs one run")
        self.length_scale = FloatSpinBox(
            label="Length scale", min=0.1, max=1.5, step=0.05, value=BLIND_LENGTH_SCALE,
            tooltip="Estimated lengths that the cepstrum did not confirm are multiplied by this. "
                    "Below 1 is the safer choice for deblurring: too-long kernels ring, "
                    "too-short ones only leave some blur.")
        self.device = ComboBox(label="Device", choices=DEVICES, value="auto")
        self.spacing = SpinBox(label="Grid spacing (px)", min=0, max=256, value=0,
                               tooltip="Pixels between displayed streaks; 0 = automatic")
        self.region = ComboBox(label="Preview region", choices=layer_choices(viewer, "shapes"),
                               nullable=True, tooltip="A Shapes layer (its shapes' bounding box); "
                               "empty = the part of the image in view (at most 256 x 256 px)")
        self.preview_button = PushButton(text="Preview",
                                         tooltip="Estimate only the region, in about a second "
                                                 f"({PREVIEW_PASSES} Motion-Net pass)")
        self.run_button = PushButton(text="Estimate")
        self.cancel_button = PushButton(text="Cancel", enabled=False,
                                        tooltip="Stop the estimate after the current pass")
        self.progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self.status = Label(label="", value="")
        self.status.native.setWordWrap(True)
        self.extend([self.image, self.method, self.passes, self.length_scale, self.device,
                     self.spacing, self.region,
                     Container(widgets=[self.preview_button, self.run_button,
                                        self.cancel_button], layout="horizontal", labels=False),
                     self.progress, self.status])
        self.worker = None
        self._target = None
        self._preview = None
        self._cancelled = False
        self._running_text = self._running_base = ""
        self._started = 0.0
        self._clock = QTimer()
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self.run_button.changed.connect(self.run)
        self.preview_button.changed.connect(self.preview)
        self.cancel_button.changed.connect(self.cancel)
        self.method.changed.connect(self._sync_visibility)
        self._sync_visibility()

    def _sync_visibility(self, *_):
        self.passes.visible = METHODS[self.method.value] == "motionnet"

    @property
    def running(self) -> bool:
        """Whether an estimation is in progress."""
        return self.worker is not None

    def snapshot(self, preview: bool = False) -> EstimateJob:
        """Copy the displayed plane and the parameters into an :class:`EstimateJob`.

        With ``preview``, only the preview region (and a margin of context) is copied.
        """
        layer = self.image.value
        if layer is None:
            raise ValueError("choose an image layer")
        if layer.multiscale:
            raise ValueError("multiscale images are not supported")
        plane = layer.data[current_index(layer, self._viewer)]
        if not (preview or is_dask(plane)):  # a dask plane is read by the job's worker
            plane = np.asarray(plane)
        intensity = IntensityMap(plane)  # of the whole plane, also for a preview
        self._preview = None
        if preview:
            shapes = self.region.value
            box = limit_box(shapes_box(shapes, layer) if shapes is not None
                            else view_box(self._viewer, layer))
            outer, inner = with_margin(box, plane.shape[:2], ESTIMATE_MARGIN)
            # a dask layer: only the region is read (its range, if needed, in one pass)
            plane = np.asarray(plane[outer[0]:outer[1], outer[2]:outer[3]])
            self._preview = (box, inner)
        device, warning = resolve_device_name(self.device.value)
        if warning:
            show_warning(warning)
        side = min(plane.shape[:2])
        if side < MIN_RELIABLE_SIDE:
            show_warning(f"{layer.name!r} is only {plane.shape[0]}x{plane.shape[1]} px: motion "
                         f"estimates below {MIN_RELIABLE_SIDE} px are unreliable; check the "
                         "streaks by eye or type a uniform motion in Deblur.")
        method = METHODS[self.method.value]
        passes = int(self.passes.value)
        if preview:
            passes = min(passes, PREVIEW_PASSES)
        self._target = (layer.name, plane_geometry(layer), int(self.spacing.value) or None,
                        side, f"{self.method.value}"
                        + (f", {passes} passes" if method == "motionnet" else "")
                        + f", length scale {self.length_scale.value:g}")
        settings = EstimationSettings(method=method, passes=passes, device=device)
        return EstimateJob(plane=intensity.to_unit(plane), settings=settings,
                           length_scale=float(self.length_scale.value))

    def run(self, *_) -> None:
        """Start the estimation in a thread worker (errors become notifications)."""
        self._start(preview=False)

    def preview(self, *_) -> None:
        """Estimate only the preview region into the layer "<image> motion preview"."""
        self._start(preview=True)

    def cancel(self, *_) -> None:
        """Stop the estimate after the current Motion-Net pass; nothing is shown."""
        if self.worker is not None:
            self._cancelled = True
            self.worker.quit()
            self.status.value = "cancelling..."

    def _start(self, preview: bool) -> None:
        job = snapshot_or_notify(self, "Estimate motion", preview=preview)
        if job is None:
            return
        self._cancelled = False
        self.progress.max, self.progress.value = 0, 0  # busy until the first pass reports
        what = "preview" if preview else "estimating"
        self._running_base = f"{what} ({self.method.value}, {job.settings.device})"
        self._running_text = self._running_base
        self._started = time.perf_counter()
        self.status.value = f"{self._running_text}..."
        self._clock.start()
        worker = create_worker(run_estimate, job, _start_thread=False)
        worker.yielded.connect(self._on_yielded)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self.worker = worker
        self.run_button.enabled = self.preview_button.enabled = False
        self.cancel_button.enabled = True
        worker.start()

    def _on_yielded(self, update: EstimateUpdate | EstimateResult | JobError) -> None:
        if isinstance(update, JobError):
            self._on_errored(update.message)
        elif isinstance(update, EstimateUpdate):
            self.progress.max, self.progress.value = update.steps, update.step
            self._running_text = f"{self._running_base}: {update.what}"
        elif not self._cancelled:
            self._show(update)

    def _show(self, result: EstimateResult) -> None:
        name, geometry, spacing, side, settings = self._target
        field, confidence, source = result.field, result.confidence, "estimate"
        if self._preview is not None:
            (r0, _, c0, _), (rows, cols) = self._preview
            field = MotionField(field.length[rows, cols], field.angle[rows, cols])
            confidence = None if confidence is None else confidence[rows, cols]
            scale = np.asarray(geometry["scale"], float)
            geometry = {"scale": geometry["scale"],
                        "translate": tuple(np.asarray(geometry["translate"], float)
                                           + np.array([r0, c0]) * scale)}
            name, source = f"{name} motion preview", PREVIEW_SOURCE
        else:
            name = f"{name} motion"
        layer = show_field(self._viewer, field, name, spacing=spacing, original=field,
                           confidence=confidence, source=source, **geometry)
        layer.metadata["estimated_with"] = settings
        longest = float(field.length.max())
        self.status.value = (f"done: length {float(field.length.min()):.1f}-{longest:.1f} px "
                             f"(x{self.length_scale.value:g}); {field_legend(layer)}")
        if side < MIN_RELIABLE_SIDE or longest > side / 2:
            self.status.value = f"UNRELIABLE (image {side} px): " + self.status.value
            if longest > side / 2:
                show_warning(f"Estimated streaks up to {longest:.0f} px on a {side}-px image: "
                             "implausible, check them before deblurring.")

    def _on_errored(self, err) -> None:
        show_error(f"Estimate motion failed: {err}")
        self.status.value = "failed"

    def _tick(self) -> None:
        """While running: the last step done and the time so far."""
        if self.worker is not None and not self._cancelled:
            seconds = time.perf_counter() - self._started
            self.status.value = f"{self._running_text}... {seconds:.0f} s"

    def _on_finished(self) -> None:
        self._clock.stop()
        self.worker = None
        self.run_button.enabled = self.preview_button.enabled = True
        self.cancel_button.enabled = False
        self.progress.max, self.progress.value = 1, 0 if self._cancelled else 1
        if self._cancelled:
            self.status.value = "cancelled"
