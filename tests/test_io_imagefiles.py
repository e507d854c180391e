"""Image and field files (imagefiles.py): dtype, range and layout kept; atomic writes."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from napari_motion_deblur import MotionField
from napari_motion_deblur._atomic import atomic_path
from napari_motion_deblur.imagefiles import (
    check_writable,
    find_images,
    load_fields,
    read_image,
    save_fields,
    write_image,
)

RNG = np.random.default_rng(0)


def _roundtrip(path, image):
    """Read, convert to [0, 1] planes and back, write, read again."""
    units = list(image.units())
    out = path.with_name("out" + path.suffix)
    write_image(out, image.like_input(units), image)
    return read_image(out), units


@pytest.mark.parametrize("name, array", [
    ("gray8.png", RNG.integers(0, 256, (16, 12), dtype=np.uint8)),
    ("gray16.png", RNG.integers(0, 65536, (16, 12), dtype=np.uint16)),
    ("rgba8.png", RNG.integers(0, 256, (16, 12, 4), dtype=np.uint8)),
    ("rgb16.tif", RNG.integers(0, 65536, (16, 12, 3), dtype=np.uint16)),
    ("float.tif", RNG.random((16, 12), dtype=np.float32)),
    ("int32.tif", RNG.integers(0, 4000, (16, 12), dtype=np.int32)),
])
def test_single_images_come_back_identical(tmp_path, name, array):
    path = tmp_path / name
    if path.suffix == ".png":
        iio.imwrite(path, array)
    else:
        tifffile.imwrite(path, array, photometric="rgb" if array.ndim == 3 else "minisblack")
    image = read_image(path)
    assert image.count == 1 and image.colour == (array.ndim == 3)
    again, units = _roundtrip(path, image)
    assert again.planes.dtype == array.dtype
    np.testing.assert_array_equal(again.planes[0], array)
    assert all(u.dtype == np.float32 and 0 <= u.min() and u.max() <= 1 for u in units)


def test_int32_holding_16_bit_values_uses_the_16_bit_scale(tmp_path):
    array = np.full((8, 8), 65535, np.int32)
    tifffile.imwrite(tmp_path / "a.tif", array)
    image = read_image(tmp_path / "a.tif")
    assert image.scale == 65535 and next(image.units()).max() == 1.0  # not black


def test_stacks_hyperstacks_and_resolution(tmp_path):
    stack = RNG.integers(0, 65536, (2, 3, 10, 8), dtype=np.uint16)  # e.g. T, Z, Y, X
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack",
                     resolution=(4.0, 4.0), resolutionunit="CENTIMETER")
    image = read_image(tmp_path / "s.tif")
    assert image.planes.shape == (6, 10, 8) and not image.colour
    again, _ = _roundtrip(tmp_path / "s.tif", image)
    np.testing.assert_array_equal(again.planes.reshape(stack.shape), stack)
    assert again.tiff["resolution"] == ((4, 1), (4, 1))
    planar = RNG.integers(0, 256, (3, 10, 8), dtype=np.uint8)  # one RGB image, planar
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    image = read_image(tmp_path / "p.tif")
    assert image.colour and image.planes.shape == (1, 10, 8, 3)


def test_formats_that_cannot_hold_the_result_are_refused(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((2, 8, 8), np.uint16),
                     photometric="minisblack")
    stack = read_image(tmp_path / "s.tif")
    with pytest.raises(ValueError, match="one image"):
        check_writable(tmp_path / "x.png", stack)
    tifffile.imwrite(tmp_path / "d.tif", np.zeros((8, 8), np.uint16))
    with pytest.raises(ValueError, match="JPEG cannot hold uint16"):
        check_writable(tmp_path / "x.jpg", read_image(tmp_path / "d.tif"))
    with pytest.raises(ValueError, match="cannot write"):
        check_writable(tmp_path / "x.bmp", stack)


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\nbroken", b"II*\x00broken"])
def test_unreadable_images_raise_value_error(tmp_path, content):
    path = tmp_path / ("bad.tif" if content.startswith(b"II") else "bad.png")
    path.write_bytes(content)
    with pytest.raises(ValueError, match="cannot be read"):
        read_image(path)
    with pytest.raises(ValueError, match="unsupported"):
        read_image(tmp_path / "notes.txt")


def test_atomic_path_keeps_existing_files_and_cleans_up(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(FileExistsError):
        with atomic_path(target):
            pass
    with pytest.raises(RuntimeError), atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash while writing")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]
    with atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("new")
        assert not (tmp_path / "b.txt").exists()  # visible only once complete
    assert (tmp_path / "b.txt").read_text() == "new"


def test_atomic_path_never_clobbers_a_file_created_meanwhile(tmp_path):
    with pytest.raises(FileExistsError):
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("new")
            (tmp_path / "b.txt").write_text("raced")
    assert (tmp_path / "b.txt").read_text() == "raced"
    assert [p.name for p in tmp_path.iterdir()] == ["b.txt"]


def test_fields_roundtrip_and_bad_files(tmp_path):
    fields = [MotionField.uniform((6, 5), 3.0 + i, 10.0 * i) for i in range(3)]
    save_fields(tmp_path / "stack.npz", fields)
    assert load_fields(tmp_path / "stack.npz") == fields
    save_fields(tmp_path / "one.npz", fields[:1])
    assert MotionField.load(tmp_path / "one.npz") == fields[0]  # the plugin's format
    with pytest.raises(FileExistsError):
        save_fields(tmp_path / "one.npz", fields[:1])
    data = (tmp_path / "stack.npz").read_bytes()
    for name, content in [("trunc.npz", data[: len(data) // 2]), ("empty.npz", b"")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match="not a readable motion field"):
            load_fields(tmp_path / name)
    np.save(tmp_path / "plain.npy", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="not a readable motion field"):
        load_fields(tmp_path / "plain.npy")


def test_find_images_expands_folders_and_globs(tmp_path):
    for name in ["b.png", "a.tif", ".a.tif.partial.tif", "notes.txt"]:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_images([tmp_path])] == ["a.tif", "b.png"]
    assert [p.name for p in find_images([str(tmp_path / "*.png"), tmp_path / "b.png"])] == [
        "b.png"]
    with pytest.raises(ValueError, match="matches no"):
        find_images([str(tmp_path / "*.jpg")])


def test_psf_files(tmp_path):
    from napari_motion_deblur.imagefiles import read_psf

    np.save(tmp_path / "psf.npy", np.ones((3, 5)))
    np.testing.assert_allclose(read_psf(tmp_path / "psf.npy"), np.full((3, 5), 1 / 15))
    iio.imwrite(tmp_path / "psf.png", np.full((5, 5), 7, np.uint8))
    assert read_psf(tmp_path / "psf.png").sum() == pytest.approx(1.0)
    np.save(tmp_path / "neg.npy", -np.ones((3, 3)))
    with pytest.raises(ValueError, match="neg.npy: PSF has negative taps"):
        read_psf(tmp_path / "neg.npy")
    iio.imwrite(tmp_path / "rgb.png", np.ones((5, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="one gray image"):
        read_psf(tmp_path / "rgb.png")


def test_jpeg_in_and_out(tmp_path):
    from skimage import data

    iio.imwrite(tmp_path / "a.jpg", data.astronaut()[:32, :40])
    image = read_image(tmp_path / "a.jpg")
    assert image.colour and image.planes.shape == (1, 32, 40, 3)
    again, _ = _roundtrip(tmp_path / "a.jpg", image)
    assert again.planes.dtype == np.uint8 and again.planes.shape == image.planes.shape
    assert np.abs(again.planes.astype(int) - image.planes).mean() < 4  # lossy, quality 95


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    with atomic_path(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask  # not private 0600


def _huge_field_archive(path, side=12000):
    zeros = np.zeros((side, side), np.float32)  # compresses to ~1 MB
    np.savez_compressed(path, length=zeros, angle=zeros)


def test_oversized_fields_are_refused_before_decompressing(tmp_path):
    import resource

    from napari_motion_deblur.motion import MAX_FIELD_PIXELS

    path = tmp_path / "big.npz"
    _huge_field_archive(path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=f"larger than the {MAX_FIELD_PIXELS} pixels"):
        MotionField.load(path)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # nothing near the 1.15 GB the arrays would take


def test_saving_a_field_is_atomic_and_keeps_the_extension_case(tmp_path, monkeypatch):
    field = MotionField.uniform((6, 5), 4.0, 30.0)
    assert field.save(tmp_path / "f.NPZ").name == "f.NPZ"
    assert field.save(tmp_path / "g").name == "g.npz"
    good = field.save(tmp_path / "keep.npz")
    before = good.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    with pytest.raises(OSError):
        MotionField.uniform((6, 5), 9.0, 0.0).save(good)
    assert good.read_bytes() == before  # the good file survives a failed overwrite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.NPZ", "g.npz", "keep.npz"]
