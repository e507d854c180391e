"""The manifest and resources are found in an editable install and inside a built wheel."""

import importlib.resources
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_installed_package_finds_manifest_and_resources():
    package = importlib.resources.files("napari_motion_deblur")
    assert (package / "napari.yaml").is_file()
    assert (package / "resources").is_dir()
    for weights in ("motionnet.pt", "refiner.pt", "refiner_photo.pt", "refiner_jpeg.pt",
                    "ircnet_learned.pt"):
        assert (package / "resources" / weights).is_file()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git for a clean copy")
def test_wheel_contains_manifest_and_resources(tmp_path):
    pytest.importorskip("hatchling")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    wheel = next(tmp_path.glob("napari_motion_deblur-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "napari_motion_deblur/napari.yaml" in names
    for weights in ("motionnet.pt", "refiner.pt", "refiner_photo.pt", "refiner_jpeg.pt",
                    "ircnet_learned.pt"):
        assert f"napari_motion_deblur/resources/{weights}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "napari.manifest" in text and "napari_motion_deblur:napari.yaml" in text
