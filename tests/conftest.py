"""Test setup: a headless X server for napari/Qt when no display is available.

Measured on these machines: Xvfb + Qt's ``xcb`` platform renders; ``offscreen`` does not (see
the project's headless notes). A plain ``pytest`` therefore starts Xvfb itself when
``DISPLAY`` is unset, and stops it at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import pytest

_XVFB: subprocess.Popen | None = None


def _start_xvfb() -> None:
    global _XVFB
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        return  # GUI tests will skip or fail with a clear Qt error
    for display in range(99, 140):
        if os.path.exists(f"/tmp/.X{display}-lock"):
            continue
        proc = subprocess.Popen(
            [xvfb, f":{display}", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            if os.path.exists(f"/tmp/.X11-unix/X{display}") or proc.poll() is not None:
                break
            time.sleep(0.1)
        if proc.poll() is None:
            _XVFB = proc
            os.environ["DISPLAY"] = f":{display}"
            return


def pytest_configure(config):
    os.environ.setdefault("QT_API", "pyqt6")
    os.environ.setdefault("PYTEST_QT_API", "pyqt6")
    os.environ.setdefault("NAPARI_ASYNC", "0")
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = tempfile.mkdtemp(prefix="xdg-runtime-")
        os.chmod(runtime, 0o700)
        os.environ["XDG_RUNTIME_DIR"] = runtime
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        del os.environ["QT_QPA_PLATFORM"]  # offscreen cannot render napari's GL canvas
    if not os.environ.get("DISPLAY"):
        _start_xvfb()


def pytest_unconfigure(config):
    global _XVFB
    if _XVFB is not None:
        _XVFB.terminate()
        try:
            _XVFB.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _XVFB.kill()
        _XVFB = None


@pytest.fixture
def fine_tune(tmp_path):
    """Run Motion-Net's training script for a moment from small saved weights, with ``extra``
    options; returns its metadata and output folder."""
    from napari_motion_deblur.estimation.motionnet import MotionNet, save_weights
    from napari_motion_deblur.training import motionnet as training

    init = tmp_path / "init.pt"
    save_weights(MotionNet(width=8), init)

    def run(*extra: str, minutes: str = "0.02"):
        out = tmp_path / "out"
        meta = training.main(["--out", str(out), "--minutes", minutes, "--batch", "2",
                              "--crop", "48", "--synthetic", "2", "--no-photos", "--init",
                              str(init), "--validate-every", "0.5", *extra])
        return meta, out

    return run
