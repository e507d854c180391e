"""Screenshots of the plugin (docs/screenshots/*.png): the three steps on the sample data, then
the estimated field and a deblur preview on a real photograph.

Run ``python scripts/make_screenshots.py [--real PHOTO]`` (``--real`` defaults to the shared
720p street photograph, ``../shared/data/real/blurred_street.png`` next to the checkout, when it
exists); without a display it starts Xvfb (napari needs a real X server to render; Qt's
``offscreen`` platform draws a black canvas).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
REAL = ROOT.parent / "shared" / "data" / "real" / "blurred_street.png"


def _ensure_display() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        raise SystemExit("no DISPLAY and no Xvfb: apt-get install xvfb")
    display = next(d for d in range(99, 140) if not os.path.exists(f"/tmp/.X{d}-lock"))
    proc = subprocess.Popen([xvfb, f":{display}", "-screen", "0", "1600x1000x24", "-nolisten",
                             "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    os.environ["DISPLAY"] = f":{display}"
    os.environ.pop("QT_QPA_PLATFORM", None)
    return proc


def _settle(widget=None, seconds: float = 0.5) -> None:
    from qtpy.QtWidgets import QApplication

    end = time.time() + seconds
    while time.time() < end or (widget is not None and widget.running):
        QApplication.processEvents()
        time.sleep(0.02)


def _show_dock(viewer, name: str) -> None:
    from napari_motion_deblur.gui.widgets.launch import PLUGIN

    dock, _ = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    _settle(seconds=0.2)
    dock.show()
    dock.raise_()
    _settle(seconds=0.2)


def _drag(layer, start, end) -> None:
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    mouse_press_callbacks(layer, read_only_mouse_event(type="mouse_press", position=start,
                                                       button=1))
    mouse_move_callbacks(layer, read_only_mouse_event(type="mouse_move", position=end, button=1,
                                                      is_dragging=True))
    mouse_release_callbacks(layer, read_only_mouse_event(type="mouse_release", position=end,
                                                         button=1))


def _real_photo(viewer, widgets, args) -> None:
    """4: Motion-Net's field on a real photograph; 5: a deblur preview of the part in view."""
    from skimage import io

    for layer in list(viewer.layers):
        viewer.layers.remove(layer)
    photo = viewer.add_image(io.imread(args.real), name=args.real.stem)
    estimate, deblur = widgets["Estimate motion"], widgets["Deblur"]
    _show_dock(viewer, "Estimate motion")
    estimate.reset_choices()
    estimate.image.value = photo
    estimate.method.value = args.method
    estimate.run()
    _settle(estimate)
    viewer.reset_view()
    _settle()
    viewer.screenshot(str(args.out / "4_real_photo.png"), canvas_only=False)
    print(f"real photograph: {estimate.status.value}")
    _show_dock(viewer, "Deblur")
    deblur.reset_choices()
    deblur.image.value = photo
    h, w = photo.data.shape[:2]
    r0, c0 = int(h * 0.35), int(w * 0.38)  # a 256-px square over the car and the kerb
    roi = viewer.add_shapes([[[r0, c0], [r0, c0 + 255], [r0 + 255, c0 + 255], [r0 + 255, c0]]],
                            name="preview region", edge_color="cyan", face_color="transparent",
                            edge_width=2)
    deblur.reset_choices()
    deblur.region.value = roi
    viewer.scene.camera.center = (r0 + 128, c0 + 128)
    viewer.scene.camera.zoom = 1.6
    viewer.layers[f"{photo.name} motion"].visible = False
    for _ in range(2):  # the first run also builds the inverse filters
        deblur.preview()
        _settle(deblur)
    _settle()
    viewer.screenshot(str(args.out / "5_preview.png"), canvas_only=False)
    print(f"preview: {deblur.status.value}")


def main(argv=None) -> None:
    """Write estimate.png, edit.png and deblur.png for a sample into docs/screenshots."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", default="photograph", choices=["photograph", "microscopy"])
    parser.add_argument("--method", default="Motion-Net", choices=["Motion-Net", "spectral"])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--real", type=Path, default=REAL if REAL.exists() else None,
                        help="a real blurred photograph for the last two screenshots")
    args = parser.parse_args(argv)
    xvfb = _ensure_display()
    try:
        import napari

        from napari_motion_deblur.gui.widgets.launch import setup_demo_viewer

        args.out.mkdir(parents=True, exist_ok=True)
        viewer = napari.Viewer(title="napari-motion-deblur")
        viewer.window._qt_window.resize(1500, 950)
        widgets = setup_demo_viewer(viewer, args.sample)
        blurred = widgets["Deblur"].image.value
        from napari_motion_deblur.gui.field_editing import GROUND_TRUTH, SOURCE_KEY

        truth = next(ly for ly in viewer.layers if ly.metadata.get(SOURCE_KEY) == GROUND_TRUTH)
        assert not truth.visible

        # 1. estimate
        estimate = widgets["Estimate motion"]
        _show_dock(viewer, "Estimate motion")
        estimate.method.value = args.method
        estimate.run()
        _settle(estimate)
        viewer.reset_view()
        _settle()
        viewer.screenshot(str(args.out / "1_estimate.png"), canvas_only=False)

        # 2. edit: redraw one streak with the mouse
        edit = widgets["Edit motion field"]
        _show_dock(viewer, "Edit motion field")
        edit.reset_choices()
        motion = next(ly for ly in viewer.layers if ly.name == f"{blurred.name} motion")
        edit.motion_layer.value = motion
        edit.radius.value = 40
        edit.edit_mode.value = True
        h, w = blurred.data.shape[:2]
        _drag(motion, (h * 0.3, w * 0.3 - 10), (h * 0.3 - 10, w * 0.3 + 10))
        _settle()
        viewer.screenshot(str(args.out / "2_edit.png"), canvas_only=False)
        edit.edit_mode.value = False

        # 3. deblur with the estimated, edited field, next to the blurred input
        deblur = widgets["Deblur"]
        _show_dock(viewer, "Deblur")
        deblur.reset_choices()
        deblur.image.value = blurred
        assert deblur.motion_layer.value is motion  # followed the estimate, not the truth
        deblur.run()
        _settle(deblur)
        for layer in viewer.layers:
            layer.visible = layer.name in (blurred.name, f"{blurred.name} deblurred")
        viewer.canvas.grid.enabled = True
        viewer.canvas.grid.shape = (1, -1)
        viewer.reset_view()
        _settle()
        viewer.screenshot(str(args.out / "3_deblur.png"), canvas_only=False)
        shot = viewer.screenshot(canvas_only=True)
        share = float((np.asarray(shot)[..., :3].max(-1) > 20).mean())
        viewer.canvas.grid.enabled = False
        if args.real is not None:
            _real_photo(viewer, widgets, args)
        print(f"wrote {sorted(p.name for p in args.out.glob('*.png'))}; "
              f"canvas non-black share {share:.2f}")
        viewer.close()
    finally:
        if xvfb is not None:
            xvfb.terminate()


if __name__ == "__main__":
    main()
