"""Motion-Net's training data: the share of long streaks, and batches unchanged without it."""

from __future__ import annotations

import numpy as np
import pytest

from napari_motion_deblur.training import motionnet as training
from napari_motion_deblur.training.sources import Sources


@pytest.fixture(scope="module")
def sources():
    return Sources(None, crop=48, synthetic_pool=3, seed=0, photos=False)


def lengths(sources, mode: str, long_share: float, count: int = 40) -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.concatenate([training.make_sample(sources, rng, mode=mode,
                                                long_share=long_share)[1].length.ravel()
                           for _ in range(count)])


@pytest.mark.parametrize("mode", ["node", "exact"])
def test_long_fields_fill_the_long_lengths(sources, mode):
    usual, long = lengths(sources, mode, 0.0), lengths(sources, mode, 0.8)
    assert (long > 20).mean() > 2 * (usual > 20).mean()
    assert long.max() <= 35.0 + 1e-6


def test_long_field_streaks_reach_their_drawn_length():
    for seed in range(20):
        field = training.long_field((64, 64), np.random.default_rng(seed))
        assert 14.0 - 1e-6 <= field.length.max() <= 35.0 + 1e-6


def test_without_long_fields_no_random_draw_is_added():
    # The share 0 draws nothing, so old seeds (the validation set) give the crops they gave.
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    assert training._is_long(rng, 0.0) is False
    assert rng.bit_generator.state == state
    assert training._is_long(rng, 1.0) is True and rng.bit_generator.state != state


def test_the_default_batches_have_no_long_fields(sources):
    a = training.make_batch(sources, np.random.default_rng(3), 3, mode="mixed")
    b = training.make_batch(sources, np.random.default_rng(3), 3, mode="mixed", long_share=0.0)
    assert np.array_equal(a[0].numpy(), b[0].numpy())


@pytest.mark.parametrize("share", ["-0.1", "1.5"])
def test_a_long_share_outside_0_1_is_refused(tmp_path, share):
    with pytest.raises(SystemExit, match="long-share"):
        training.main(["--out", str(tmp_path), "--minutes", "0.01", "--long-share", share,
                       "--no-photos", "--synthetic", "1"])
