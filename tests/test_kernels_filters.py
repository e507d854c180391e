"""Kernels, the bank, Eq. 17 interpolation weights and the inverse filters (Eq. 10)."""

import numpy as np
import pytest
import torch

from napari_motion_deblur.physics.inverse_filters import (
    bank_inverse_filters,
    compute_inverse_filters,
    identity_error,
)
from napari_motion_deblur.physics.kernels import (
    BANK_ANGLES,
    BANK_LENGTHS,
    bank_kernels,
    bank_parameters,
    bank_size,
    interpolation_weights,
    motion_kernel,
)


@pytest.mark.parametrize("length,angle", [(1, 0), (1, 73), (0.4, 10), (3, 0), (7.5, 33), (35, 174)])
def test_kernel_sums_to_one_and_is_nonnegative(length, angle):
    k = motion_kernel(length, angle)
    assert k.sum() == pytest.approx(1.0, abs=1e-6)
    assert (k >= 0).all()
    assert k.shape[0] % 2 == 1 and k.shape[0] == k.shape[1]


@pytest.mark.parametrize("angle", [0, 45, 90, 123])
def test_length_one_is_identity(angle):
    k = motion_kernel(1.0, angle)
    assert k.shape == (3, 3)
    assert k[1, 1] == pytest.approx(1.0)


def test_kernel_orientation_follows_convention():
    # 0 deg: streak along columns; 90 deg: along rows (up as displayed).
    horizontal = motion_kernel(9, 0)
    vertical = motion_kernel(9, 90)
    c = horizontal.shape[0] // 2
    assert horizontal[c].sum() == pytest.approx(1.0, abs=1e-6)
    assert vertical[:, c].sum() == pytest.approx(1.0, abs=1e-6)
    # 45 deg: direction (-sin, cos) = up-right, so weight above-right of centre.
    diagonal = motion_kernel(9, 45)
    assert diagonal[c - 2, c + 2] > 0.05 and diagonal[c - 2, c - 2] == 0


@pytest.mark.parametrize("turns", [1, 2, 3])
@pytest.mark.parametrize("angle", [0.0, 30.0, 117.0])
def test_turned_and_mirrored_fields_carry_turned_kernels(turns, angle):
    from napari_motion_deblur.motion import MotionField

    field = MotionField.uniform((3, 5), 13.0, angle)
    kernel = motion_kernel(13.0, angle)
    turned = field.rot90(turns)
    assert turned.shape == (5, 3) if turns % 2 else (3, 5)
    assert np.allclose(motion_kernel(13.0, float(turned.angle[0, 0])),
                       np.rot90(kernel, turns), atol=1e-6)
    mirrored = field.fliplr()
    assert np.allclose(motion_kernel(13.0, float(mirrored.angle[0, 0])), kernel[:, ::-1],
                       atol=1e-6)
    assert field.rot90(4) == field and field.fliplr().fliplr() == field


def test_bank_has_511_kernels_with_the_paper_grid():
    lengths, angles = bank_parameters()
    assert bank_size() == 511 == len(lengths) == len(bank_kernels())
    assert set(lengths.tolist()) == set(map(float, BANK_LENGTHS))
    assert set(angles.tolist()) == set(map(float, BANK_ANGLES))
    assert (lengths == 1).sum() == 1
    sums = bank_kernels().sum(dim=(1, 2))
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)


def test_interpolation_weights_four_sum_to_one():
    rng = np.random.default_rng(0)
    length = torch.tensor(rng.uniform(0, 40, 1000), dtype=torch.float32)
    angle = torch.tensor(rng.uniform(-200, 400, 1000), dtype=torch.float32)
    idx, w = interpolation_weights(length, angle)
    assert idx.shape == w.shape == (1000, 4)
    assert torch.allclose(w.sum(-1), torch.ones(1000), atol=1e-6)
    assert (w >= 0).all() and (idx >= 0).all() and (idx < 511).all()


def test_interpolation_weights_exact_at_bank_points():
    lengths, angles = bank_parameters()
    idx, w = interpolation_weights(torch.tensor(lengths), torch.tensor(angles))
    best = w.argmax(-1)
    chosen = idx.gather(1, best[:, None])[:, 0]
    assert torch.equal(chosen, torch.arange(511))
    assert torch.allclose(w.max(-1).values, torch.ones(511))


def test_interpolation_is_continuous_across_the_angle_wrap():
    idx_a, w_a = interpolation_weights(torch.tensor([20.0]), torch.tensor([179.999]))
    idx_b, w_b = interpolation_weights(torch.tensor([20.0]), torch.tensor([0.001]))
    kernels = bank_kernels()
    mix = lambda i, w: (kernels[i[0]] * w[0][:, None, None]).sum(0)  # noqa: E731
    assert torch.allclose(mix(idx_a, w_a), mix(idx_b, w_b), atol=1e-3)


def test_bank_inverse_filters_satisfy_eq10():
    """sum_i d_i * k_i ~= delta: L2 residual <= 0.4 for every bank kernel, <= 0.2 on average.

    The residual lives where the blur destroys information (sinc zeros); IRC converges there
    regardless, since the filters keep the least-norm structure of Eq. 14.
    """
    filters = bank_inverse_filters()
    err = identity_error(filters, bank_kernels())
    assert filters.shape == (511, 3, 41, 41)
    assert torch.isfinite(filters).all()
    assert float(err.max()) <= 0.4 and float(err.mean()) <= 0.2
    assert float(err[0]) <= 1e-3  # the identity kernel is inverted exactly


def test_arbitrary_psf_gets_its_own_filters():
    psf = torch.zeros(1, 9, 9)
    psf[0, 2:7, 2:7] = 1 / 25.0
    err = identity_error(compute_inverse_filters(psf, support=41), psf)
    assert float(err[0]) < 0.2


def test_filter_support_must_exceed_the_kernel():
    with pytest.raises(ValueError, match="support"):
        compute_inverse_filters(bank_kernels()[-1:], support=21)


# ------------------------------------------------------------ the on-disk cache (issue 9, #1)
@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    """An empty cache folder, no filters in memory, and a fast stand-in for the bank solve."""
    from napari_motion_deblur.physics import inverse_filters as inv

    calls = []

    def solve(rho, support):
        calls.append(support)
        gen = torch.Generator().manual_seed(len(calls))
        return torch.rand(bank_size(), 3, support, support, generator=gen) + 0.5

    monkeypatch.setenv("NAPARI_MOTION_DEBLUR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(inv, "_memory", {})
    monkeypatch.setattr(inv, "_solve_bank", solve)
    return tmp_path / "cache", calls, inv


def _reload(inv, monkeypatch):
    monkeypatch.setattr(inv, "_memory", {})  # a new process: only the disk cache is left
    return bank_inverse_filters(support=41)


def test_the_cache_is_written_once_and_reused(fake_cache, monkeypatch):
    folder, calls, inv = fake_cache
    first = bank_inverse_filters(support=41)
    assert [p.suffix for p in folder.iterdir()] == [".npz"]  # no temporary file left behind
    again = _reload(inv, monkeypatch)
    assert calls == [41]
    torch.testing.assert_close(again, first, rtol=0, atol=0)


def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _save(dtype=np.float32, zeros=False, shape=(511, 3, 41, 41)):
    import hashlib

    def write(path):
        arr = np.zeros(shape, dtype) if zeros else np.ones(shape, dtype)
        np.savez(path, filters=arr, sha256=np.array(hashlib.sha256(arr.tobytes()).hexdigest()))
    return write


@pytest.mark.parametrize("corrupt", [
    lambda p: p.write_bytes(b""),  # zero bytes (was EOFError in every deconvolve)
    _flip_a_byte,  # checksum or zip CRC
    _save(np.float64),  # right shape, wrong dtype (was a torch RuntimeError)
    _save(np.float16),
    _save(zeros=True),  # was accepted: deblurring returned the blurry input
    _save(shape=(511, 3, 39, 39)),
    lambda p: np.save(p.with_suffix(""), np.ones((511, 3, 41, 41), np.float32)) or
    p.with_suffix(".npy").replace(p),  # an .npy under the .npz name (no checksum)
], ids=["empty", "flipped", "float64", "float16", "zeros", "shape", "npy"])
def test_a_bad_cache_file_is_rebuilt_with_a_warning(fake_cache, monkeypatch, corrupt):
    folder, calls, inv = fake_cache
    bank_inverse_filters(support=41)
    (path,) = folder.iterdir()
    corrupt(path)
    with pytest.warns(UserWarning, match="invalid inverse-filter cache"):
        rebuilt = _reload(inv, monkeypatch)
    assert calls == [41, 41]
    assert rebuilt.dtype == torch.float32 and rebuilt.shape == (511, 3, 41, 41)
    torch.testing.assert_close(_reload(inv, monkeypatch), rebuilt, rtol=0, atol=0)
    assert calls == [41, 41]  # the rebuilt file is valid again
    assert sorted(p.name for p in folder.iterdir()) == [path.name]


def test_an_unwritable_cache_warns_and_leaks_no_temporary_file(fake_cache, monkeypatch):
    folder, calls, inv = fake_cache
    bank_inverse_filters(support=41)
    (path,) = folder.iterdir()
    path.unlink()
    path.mkdir()  # the final rename fails after the temporary file was written
    with pytest.warns(UserWarning, match="cannot write the inverse-filter cache"):
        filters = _reload(inv, monkeypatch)
    assert filters.shape == (511, 3, 41, 41)
    assert [p.name for p in folder.iterdir()] == [path.name]
    assert list(path.iterdir()) == []
