"""The README's first command: ``napari-motion-deblur demo`` (non-blind and blind)."""

from __future__ import annotations

from skimage import io

from napari_motion_deblur.cli import main


def test_demo_prints_psnrs_and_writes_the_panel(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    values = {line.split()[1]: float(line.split()[2]) for line in printed.splitlines()
              if line.startswith("PSNR")}
    assert set(values) == {"blurry", "deblurred", "blind"}
    assert values["deblurred"] > values["blurry"] + 2.0  # known field
    assert values["blind"] > values["blurry"]  # Motion-Net's estimate
    panel = io.imread(tmp_path / "demo_before_after.png")
    assert panel.shape == (512, 4 * 512, 3)
