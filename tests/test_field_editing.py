"""Pure field <-> vectors conversion, brush edits, undo and the reader/writer (no GUI)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_motion_deblur.gui.field_editing import (
    FIELD_KEY,
    EditHistory,
    brush_edit,
    drag_to_streak,
    field_layer_data,
    field_to_vectors,
    set_uniform,
    smooth_field,
    vectors_to_field,
)
from napari_motion_deblur.gui.io import get_reader, layer_field, write_motion_field
from napari_motion_deblur.motion import MotionField


def _field(shape=(40, 50)):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    return MotionField(5 + 10 * cols / shape[1], (rows * 3.0) % 180)


def test_vectors_are_centred_full_streaks():
    field = MotionField.uniform((9, 9), 6.0, 90.0)  # vertical streak: (drow, dcol) = (-6, 0)
    data, features = field_to_vectors(field, 4)
    assert data.shape == (4, 2, 2)
    np.testing.assert_allclose(data[:, 1], [[-6, 0]] * 4, atol=1e-5)
    centres = data[:, 0] + data[:, 1] / 2
    np.testing.assert_allclose(centres, [[2, 2], [2, 6], [6, 2], [6, 6]], atol=1e-5)
    np.testing.assert_allclose(features["length"], 6.0)


def test_vectors_to_field_nearest_fill_recovers_grid_values():
    field = _field()
    data, _ = field_to_vectors(field, 5)
    rebuilt = vectors_to_field(data, field.shape)
    rr, cc = np.meshgrid(np.arange(2, 40, 5), np.arange(2, 50, 5), indexing="ij")
    np.testing.assert_allclose(rebuilt.length[rr, cc], field.length[rr, cc], rtol=1e-5)


def test_drag_to_streak_convention():
    # dragging up (rows decrease) is 90 deg; dragging right is 0 deg; the sign does not matter
    assert drag_to_streak((10, 10), (0, 10)) == pytest.approx((10.0, 90.0))
    assert drag_to_streak((10, 10), (10, 17)) == pytest.approx((7.0, 0.0))
    assert drag_to_streak((0, 10), (10, 10))[1] == pytest.approx(90.0)
    assert drag_to_streak((0, 0), (100, 0))[0] == 35.0  # clipped to the kernel bank


def test_brush_edit_is_local_smooth_and_blends_doubled_angles():
    field = MotionField.uniform((64, 64), 5.0, 178.0)
    edited = brush_edit(field, (32, 32), 20.0, 2.0, radius=10)
    assert edited.length[32, 32] == pytest.approx(20.0)
    assert edited.angle[32, 32] == pytest.approx(2.0)
    assert edited.length[32, 50] == 5.0 and edited.angle[32, 50] == pytest.approx(178.0)
    mid = edited.angle[32, 37]  # halfway: 178 and 2 blend through 0/180, not through 90
    assert min(mid, 180 - mid) < 3
    assert 5.0 < edited.length[32, 37] < 20.0


def test_set_uniform_with_mask_and_smooth():
    field = _field()
    mask = np.zeros(field.shape, bool)
    mask[:10, :10] = True
    out = set_uniform(field, 12.0, 45.0, mask)
    assert (out.length[:10, :10] == 12).all() and (out.angle[:10, :10] == 45).all()
    np.testing.assert_array_equal(out.length[10:], field.length[10:])
    smooth = smooth_field(MotionField.uniform((20, 20), 7.0, 30.0), 3)
    np.testing.assert_allclose(smooth.length, 7.0, rtol=1e-5)
    np.testing.assert_allclose(smooth.angle, 30.0, atol=1e-3)


def test_history_is_bounded():
    history = EditHistory(limit=2)
    fields = [MotionField.uniform((4, 4), float(i), 0.0) for i in range(3)]
    for f in fields:
        history.push(f)
    assert len(history) == 2
    assert history.pop() is fields[2] and history.pop() is fields[1] and history.pop() is None


def test_writer_reader_round_trip_is_exact(tmp_path):
    field = _field()
    data, kwargs, kind = field_layer_data(field, "m", 8)
    assert kind == "vectors" and kwargs["metadata"][FIELD_KEY] is field
    [written] = write_motion_field(str(tmp_path / "field"), data, kwargs)
    assert written.endswith(".motion")
    reader = get_reader(written)
    assert reader is not None
    [(data2, kwargs2, kind2)] = reader(written)
    loaded = kwargs2["metadata"][FIELD_KEY]
    np.testing.assert_array_equal(loaded.length, field.length)
    np.testing.assert_array_equal(loaded.angle, field.angle)
    assert kind2 == "vectors" and data2.shape[1:] == (2, 2)


def test_reader_declines_other_npz(tmp_path):
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    assert get_reader(str(other)) is None
    assert get_reader(str(tmp_path / "missing.npz")) is None


def test_writer_falls_back_to_vectors_without_metadata():
    field = MotionField.uniform((16, 16), 8.0, 30.0)
    data, _ = field_to_vectors(field, 4)
    rebuilt = layer_field(data, {"metadata": {}})
    np.testing.assert_allclose(rebuilt.length[2:14, 2:14], 8.0, rtol=1e-5)
    np.testing.assert_allclose(rebuilt.angle[2:14, 2:14], 30.0, atol=1e-3)


def test_reader_says_an_oversized_field_is_too_large(tmp_path):
    path = tmp_path / "big.motion"
    zeros = np.zeros((12000, 12000), np.float32)
    with open(path, "wb") as handle:
        np.savez_compressed(handle, length=zeros, angle=zeros)
    del zeros
    reader = get_reader(str(path))
    assert reader is not None  # it is a field: reading it explains, rather than declining
    with pytest.raises(ValueError, match="larger than the"):
        reader(str(path))


@pytest.mark.parametrize("far", [1e6, np.inf])
def test_vectors_far_outside_any_image_are_refused_not_allocated(far):
    data = np.array([[[far, far], [1.0, 1.0]]])
    with pytest.raises(ValueError, match="larger than the|outside any image"):
        layer_field(data, {"metadata": {}})


def test_writer_replaces_only_with_a_complete_file(tmp_path, monkeypatch):
    field = MotionField.uniform((8, 8), 5.0, 10.0)
    data, kwargs, _ = field_layer_data(field, "f")
    [written] = write_motion_field(str(tmp_path / "f.motion"), data, kwargs)
    before = open(written, "rb").read()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    with pytest.raises(OSError):
        write_motion_field(written, data, kwargs)
    assert open(written, "rb").read() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.motion"]
