"""The console command: ``demo`` (the README's first command) and ``blur``/``estimate``/``deblur``
on files, folders, globs and TIFF stacks, run in-process on tiny images."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from skimage import data, io

from napari_motion_deblur import MotionField
from napari_motion_deblur.cli import main

FAST = ["--stages", "2", "--iterations", "1", "--device", "cpu"]


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


def test_demo_refuses_a_file_as_its_folder_before_any_work(tmp_path, capsys):
    (tmp_path / "taken").write_text("x")
    assert main(["demo", "--out", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'taken'} is a file; demo " \
        "writes into a folder.\n"


@pytest.fixture
def camera():
    return data.camera()[200:264, 200:264].copy()  # uint8, 64 x 64


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((a / 255.0 - b / 255.0) ** 2))


def test_one_file_blur_then_deblur_with_its_field(tmp_path, camera, capsys):
    iio.imwrite(tmp_path / "sharp.png", camera)
    assert main(["blur", str(tmp_path / "sharp.png"), "--length", "9", "--angle", "30",
                 "--noise", "0", "--device", "cpu"]) == 0
    blurred = iio.imread(tmp_path / "sharp_blurred.png")
    field = MotionField.load(tmp_path / "sharp_blurred_motion.npz")
    assert blurred.dtype == np.uint8 and blurred.shape == camera.shape
    assert field == MotionField.uniform(camera.shape, 9.0, 30.0)
    out = tmp_path / "result.png"
    assert main(["deblur", str(tmp_path / "sharp_blurred.png"), "--motion",
                 str(tmp_path / "sharp_blurred_motion.npz"), "--out", str(out), *FAST]) == 0
    restored = iio.imread(out)
    assert restored.dtype == np.uint8 and restored.shape == camera.shape
    assert _psnr(restored, camera) > _psnr(blurred, camera) + 1.0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith(f"{tmp_path / 'sharp_blurred.png'}: deblurred in")
    assert lines[-1] == f"wrote {out}"


def test_a_folder_blind_and_quiet(tmp_path, camera, capsys):
    src = tmp_path / "frames"
    src.mkdir()
    iio.imwrite(src / "a.png", camera)
    iio.imwrite(src / "b.tif", np.stack([camera] * 3, -1))  # RGB
    (src / "notes.txt").write_text("not an image")
    assert main(["deblur", str(src), "--out", str(tmp_path / "out"), "--quiet", *FAST]) == 0
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_deblurred.png",
                                                                   "b_deblurred.tif"]
    rgb = tifffile.imread(tmp_path / "out" / "b_deblurred.tif")
    assert rgb.dtype == np.uint8 and rgb.shape == (64, 64, 3)


def test_a_uint16_tiff_stack_plane_by_plane(tmp_path, camera, capsys):
    stack = np.stack([camera, camera.T, camera[::-1]]).astype(np.uint16) * 200  # up to 51000
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack",
                     resolution=(2.0, 2.0), resolutionunit="CENTIMETER")
    assert main(["blur", str(tmp_path / "stack.tif"), "--out", str(tmp_path / "made"),
                 "--max-length", "15", "--seed", "3", "--device", "cpu"]) == 0
    blurred = tifffile.imread(tmp_path / "made" / "stack_blurred.tif")
    with np.load(tmp_path / "made" / "stack_blurred_motion.npz") as fields:
        assert fields["length"].shape == fields["angle"].shape == (3, 64, 64)
        assert not np.array_equal(fields["length"][0], fields["length"][1])  # one per plane
    assert blurred.dtype == np.uint16 and blurred.shape == stack.shape
    assert blurred.max() > 255 * 100  # the uint16 range is kept, not squeezed into 8 bits
    assert main(["estimate", str(tmp_path / "made" / "stack_blurred.tif"), "--method",
                 "spectral", "--out", str(tmp_path / "estimate.npz"), "--device", "cpu"]) == 0
    with np.load(tmp_path / "estimate.npz") as estimate:
        assert estimate["length"].shape == (3, 64, 64)
    out = tmp_path / "sharp.tif"
    assert main(["deblur", str(tmp_path / "made" / "stack_blurred.tif"), "--motion",
                 str(tmp_path / "made" / "stack_blurred_motion.npz"), "--out", str(out),
                 "--overwrite", *FAST]) == 0
    with tifffile.TiffFile(out) as tif:
        restored = tif.asarray()
        assert tif.pages[0].tags["XResolution"].value == (2, 1)  # resolution carried over
        assert len(tif.pages) == 3
    assert restored.dtype == np.uint16 and restored.shape == stack.shape
    assert [line.split(":")[0].split()[-1] for line in capsys.readouterr().out.splitlines()
            if "deblurred in" in line] == ["1/3", "2/3", "3/3"]  # a line per plane


def test_existing_files_and_inputs_are_never_overwritten(tmp_path, camera, capsys):
    iio.imwrite(tmp_path / "a.png", camera)
    args = ["deblur", str(tmp_path / "a.png"), "--length", "5", "--angle", "0", *FAST]
    assert main(args) == 0
    target = tmp_path / "a_deblurred.png"
    before = target.read_bytes()
    target.write_bytes(b"keep me")
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; pass --overwrite" in err
    assert target.read_bytes() == b"keep me"
    assert main([*args, "--overwrite"]) == 0
    assert target.read_bytes() == before
    assert main([*args, "--overwrite", "--out", str(tmp_path / "a.png")]) == 2
    assert "is an input" in capsys.readouterr().err
    assert iio.imread(tmp_path / "a.png").tolist() == camera.tolist()


@pytest.mark.parametrize("case", ["corrupt", "missing", "option", "both", "jpeg16", "field",
                                  "shape", "tile", "budget", "refine-psf", "pcg-blind"])
def test_bad_input_exits_2_with_one_line(tmp_path, camera, capsys, case):
    iio.imwrite(tmp_path / "ok.png", camera)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    tifffile.imwrite(tmp_path / "deep.tif", camera.astype(np.uint16))
    (tmp_path / "field.npz").write_bytes(b"PK\x03\x04 truncated")
    argv = {
        "corrupt": ["deblur", str(tmp_path / "bad.png"), "--length", "3", "--angle", "0"],
        "missing": ["estimate", str(tmp_path / "nothing.png")],
        "option": ["deblur", str(tmp_path / "ok.png"), "--stages", "many"],
        "both": ["deblur", str(tmp_path / "ok.png"), "--length", "3", "--angle", "0",
                 "--psf", str(tmp_path / "ok.png")],
        "jpeg16": ["deblur", str(tmp_path / "deep.tif"), "--length", "3", "--angle", "0",
                   "--out", str(tmp_path / "deep.jpg")],
        "field": ["deblur", str(tmp_path / "ok.png"), "--motion", str(tmp_path / "field.npz")],
        "shape": ["deblur", str(tmp_path / "ok.png"), "--motion", str(tmp_path / "small.npz")],
        "tile": ["deblur", str(tmp_path / "ok.png"), "--length", "3", "--angle", "0",
                 "--tile", "64"],
        "budget": ["estimate", str(tmp_path / "ok.png"), "--memory-budget", "-1"],
        "refine-psf": ["deblur", str(tmp_path / "ok.png"), "--psf", str(tmp_path / "ok.png"),
                       "--refine"],
        "pcg-blind": ["deblur", str(tmp_path / "ok.png"), "--solver", "pcg"],
    }[case]
    MotionField.uniform((8, 8), 5.0, 0.0).save(tmp_path / "small.npz")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "error:" in captured.err
    assert "Traceback" not in captured.err + captured.out
    if case == "refine-psf":
        assert "--refine needs a motion field" in captured.err
    if case == "pcg-blind":
        assert "--solver pcg needs a known motion field" in captured.err
    if case == "shape":  # found while working: the message names the file
        assert captured.err.startswith(f"error: {tmp_path / 'ok.png'}: motion field shape")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_tile_option_deblurs_in_tiles_close_to_the_whole_image(tmp_path, capsys):
    iio.imwrite(tmp_path / "sharp.png", data.camera()[:480, :480])  # 2 x 2 tiles of 204+
    assert main(["blur", str(tmp_path / "sharp.png"), "--length", "9", "--angle", "30",
                 "--noise", "0", "--device", "cpu"]) == 0
    blurred = str(tmp_path / "sharp_blurred.png")
    field = str(tmp_path / "sharp_blurred_motion.npz")
    for name, tile in (("whole.png", "none"), ("tiled.png", "204")):
        assert main(["deblur", blurred, "--motion", field, "--out", str(tmp_path / name),
                     "--tile", tile, *FAST]) == 0
    whole, tiled = iio.imread(tmp_path / "whole.png"), iio.imread(tmp_path / "tiled.png")
    difference = np.abs(whole.astype(int) - tiled.astype(int))
    assert 0 < difference.max() and difference.mean() < 1.0  # tiles ran; 8-bit levels apart


def test_a_failure_mid_file_leaves_no_partial_output(tmp_path, camera, capsys, monkeypatch):
    from napari_motion_deblur import deconvolution

    tifffile.imwrite(tmp_path / "stack.tif", np.stack([camera] * 3), photometric="minisblack")
    real, calls = deconvolution.deconvolve, []

    def fail_on_the_second_plane(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(deconvolution, "deconvolve", fail_on_the_second_plane)
    out = tmp_path / "out"
    assert main(["deblur", str(tmp_path / "stack.tif"), "--length", "5", "--angle", "0",
                 "--out", str(out), *FAST]) == 1
    assert "simulated crash" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_the_readme_examples_run(tmp_path, camera, monkeypatch, capsys):
    """Every ``napari-motion-deblur`` line of the README's "Command line" block, in order."""
    import re
    import shlex
    from pathlib import Path

    from napari_motion_deblur import motion_kernel

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = re.search(r"## Command line\n\n```bash\n(.*?)```", readme, re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines()]
    assert len(commands) >= 5 and all(c[0] == "napari-motion-deblur" for c in commands)
    monkeypatch.chdir(tmp_path)
    small = camera[:48, :48]
    iio.imwrite("sharp.png", small)
    Path("frames").mkdir()
    for i in range(2):
        tifffile.imwrite(f"frames/f{i}.tif", np.roll(small, 9 * i).astype(np.uint16) * 257)
    psf = np.asarray(motion_kernel(7.0, 45.0))
    tifffile.imwrite("psf.tif", psf.astype(np.float32))
    tifffile.imwrite("stack.tif", np.stack([small, small.T]), photometric="minisblack")
    for command in commands:
        assert main([*command[1:], "--device", "cpu"]) == 0, (command, capsys.readouterr().err)
    for name in ["sharp_blurred_deblurred.png", "blind.png", "fields/f0_motion.npz",
                 "sharp/f1_deblurred.tif", "stack_sharp.tif"]:
        assert Path(name).is_file(), name
    assert tifffile.imread("sharp/f1_deblurred.tif").dtype == np.uint16
    assert tifffile.imread("stack_sharp.tif").shape == (2, 48, 48)


def test_solver_and_model_options_reach_the_deconvolution(tmp_path, camera):
    iio.imwrite(tmp_path / "sharp.png", camera)
    assert main(["blur", str(tmp_path / "sharp.png"), "--length", "7", "--angle", "40",
                 "--noise", "0.02", "--device", "cpu"]) == 0
    blurred = tmp_path / "sharp_blurred.png"
    field = str(tmp_path / "sharp_blurred_motion.npz")
    runs = {"irc": [], "pcg": ["--solver", "pcg"], "learned": ["--model", "learned"]}
    for name, options in runs.items():
        assert main(["deblur", str(blurred), "--motion", field, *options, "--device", "cpu",
                     "--out", str(tmp_path / f"{name}.png")]) == 0
    irc, pcg, learned = (iio.imread(tmp_path / f"{s}.png").astype(int) for s in runs)
    assert irc.shape == pcg.shape == learned.shape == camera.shape
    assert np.abs(irc - pcg).max() > 0  # the options reached the solver and the network
    assert np.abs(irc - learned).max() > 0


def test_linear_light_option_deconvolves_in_linear_light(tmp_path, camera):
    from napari_motion_deblur import deconvolve
    from napari_motion_deblur.settings import DeconvolutionSettings

    iio.imwrite(tmp_path / "a.png", camera)
    args = ["deblur", str(tmp_path / "a.png"), "--length", "7", "--angle", "20", *FAST]
    assert main([*args, "--linear-light"]) == 0
    got = iio.imread(tmp_path / "a_deblurred.png")
    config = DeconvolutionSettings(stages=2, iterations=1, device="cpu", linear_light=True)
    expected = deconvolve(camera, (7.0, 20.0), settings=config)
    assert np.abs(got.astype(np.float32) / 255 - expected).max() <= 0.5 / 255 + 1e-6
    assert main([*args, "--overwrite"]) == 0  # without it: the encoded values, another result
    assert not np.array_equal(iio.imread(tmp_path / "a_deblurred.png"), got)
