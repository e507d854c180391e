"""Screenshots of the three plugin steps on the sample data (docs/screenshots/*.png).

Run ``python scripts/make_screenshots.py``; without a display it starts Xvfb (napari needs a
real X server to render; Qt's ``offscreen`` platform draws a black canvas).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


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


def main(argv=None) -> None:
    """Write estimate.png, edit.png and deblur.png for a sample into docs/screenshots."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", default="photograph", choices=["photograph", "microscopy"])
    parser.add_argument("--method", default="Motion-Net", choices=["Motion-Net", "spectral"])
    parser.add_argument("--out", type=Path, default=OUT)
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
        truth = next(ly for ly in viewer.layers if ly.name.endswith("true motion"))
        truth.visible = False

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

        # 3. deblur with the true field, next to the blurred input
        deblur = widgets["Deblur"]
        _show_dock(viewer, "Deblur")
        deblur.reset_choices()
        deblur.image.value = blurred
        deblur.motion_layer.value = truth
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
        print(f"wrote {sorted(p.name for p in args.out.glob('*.png'))}; "
              f"canvas non-black share {share:.2f}")
        viewer.close()
    finally:
        if xvfb is not None:
            xvfb.terminate()


if __name__ == "__main__":
    main()
