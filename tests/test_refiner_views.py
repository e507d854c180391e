"""How the refiner is applied: views averaged over turns and mirrors, strength of its correction,
the package's choices per weights, and the settings that override them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_motion_deblur import deconvolve
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.physics.synthesis import blur
from napari_motion_deblur.settings import DeconvolutionSettings
from napari_motion_deblur.solvers import refiner as refiner_module
from napari_motion_deblur.solvers.refiner import (
    APPLICATION,
    VIEWS,
    Refiner,
    load_refiner,
    refine,
    save_refiner,
)


def _random_refiner(seed: int = 0) -> Refiner:
    torch.manual_seed(seed)
    model = Refiner(width=8)
    torch.nn.init.normal_(model.dec1[-1].weight, std=0.05)  # not the identity it starts as
    return model.eval()


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(4)
    image = rng.uniform(0.1, 0.9, (52, 44)).astype(np.float32)  # not square: turns change it
    blurry = rng.uniform(0.1, 0.9, image.shape).astype(np.float32)
    field = MotionField(rng.uniform(0, 30, image.shape), rng.uniform(0, 180, image.shape))
    return image, blurry, field


def _by_hand(model, image, blurry, field, turns: int, mirror: bool) -> np.ndarray:
    """The network's answer on the image turned ``turns`` quarter turns and mirrored, undone."""
    def view(a):
        a = np.rot90(a, turns)
        return np.array(a[:, ::-1] if mirror else a, np.float32)  # a writable copy

    def undo(a):
        return np.rot90(a[:, ::-1] if mirror else a, -turns)

    length = np.where(field.length > 1.0, field.length, 0.0)  # no blur below 1 px
    x, y, length = (torch.from_numpy(view(a))[None] for a in (image, blurry, length))
    h, w = x.shape[-2:]
    pad = (0, (-w) % 4, 0, (-h) % 4)
    x, y, length = (torch.nn.functional.pad(t[:, None], pad, mode="reflect")[:, 0]
                    for t in (x, y, length))
    with torch.no_grad():
        out = model(x, y, length)[0, :h, :w].numpy()
    return undo(out)


def test_views_average_the_answers_on_the_turned_and_mirrored_image(case):
    image, blurry, field = case
    model = _random_refiner()
    one = refine(image, blurry, field, model=model, views=1, strength=1.0)
    assert np.abs(one - np.clip(_by_hand(model, image, blurry, field, 0, False), 0, 1)).max() \
        < 1e-5
    # 2 views add the half turn, 4 the quarter turns, 8 the mirrored ones
    order = [(0, False), (2, False), (1, False), (3, False),
             (0, True), (2, True), (1, True), (3, True)]
    answers = [_by_hand(model, image, blurry, field, *view) for view in order]
    for views in (2, 4, 8):
        expected = np.clip(np.mean(answers[:views], axis=0), 0, 1)
        got = refine(image, blurry, field, model=model, views=views, strength=1.0)
        assert got.shape == image.shape and got.dtype == np.float32
        assert np.abs(got - expected).max() < 1e-5
    assert np.abs(answers[1] - answers[0]).max() > 1e-3  # the views do differ here


def test_strength_applies_a_share_of_the_correction(case):
    image, blurry, field = case
    model = _random_refiner(1)
    full = refine(image, blurry, field, model=model, views=2, strength=1.0)
    assert np.abs(refine(image, blurry, field, model=model, strength=0.0) - image).max() < 1e-6
    half = refine(image, blurry, field, model=model, views=2, strength=0.5)
    inside = (full > 0) & (full < 1)
    assert np.abs(half - (image + 0.5 * (full - image)))[inside].max() < 1e-5
    assert np.abs(full - image).max() > 1e-3


def test_colour_views_match_the_channels_refined_one_by_one(case):
    image, blurry, field = case
    rgb = np.stack([image, image[::-1], 1 - image], axis=-1)
    rgb_blurry = np.stack([blurry, blurry[:, ::-1], blurry], axis=-1)
    model = _random_refiner(2)
    colour = refine(rgb, rgb_blurry, field, model=model, views=4, strength=0.75)
    for c in range(3):
        plane = refine(rgb[..., c], rgb_blurry[..., c], field, model=model, views=4,
                       strength=0.75)
        assert np.abs(colour[..., c] - plane).max() < 1e-5


def test_the_package_weights_carry_their_chosen_application(tmp_path):
    assert (load_refiner().views, load_refiner().strength) == APPLICATION["refiner.pt"]
    jpeg = load_refiner(compressed=True)
    assert (jpeg.views, jpeg.strength) == APPLICATION["refiner_jpeg.pt"]
    assert all(v in VIEWS and 0 < s <= 1 for v, s in APPLICATION.values())
    # Weights of one's own are applied as the network answers: one view, full strength.
    save_refiner(_random_refiner(), tmp_path / "mine.pt")
    mine = load_refiner(tmp_path / "mine.pt")
    assert (mine.views, mine.strength) == (1, 1.0)


def test_settings_choose_views_and_strength_for_deconvolve(monkeypatch):
    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    field = MotionField.uniform(sharp.shape, 7.0, 20.0)
    blurry = blur(sharp, field, noise_sigma=0.01, seed=0)
    seen = []
    original = refiner_module.refine

    def spy(*args, **kwargs):
        seen.append((kwargs.get("views"), kwargs.get("strength")))
        return original(*args, **kwargs)

    monkeypatch.setattr("napari_motion_deblur.deconvolution.refine", spy)
    settings = DeconvolutionSettings(stages=1, iterations=1, device="cpu", refine=True,
                                     jpeg_input=False)
    default = deconvolve(blurry, field, settings=settings)
    chosen = deconvolve(blurry, field, settings=settings.replace(refiner_views=1,
                                                                 refiner_strength=1))
    assert seen == [(None, None), (1, 1.0)]
    plain = deconvolve(blurry, field, settings=settings.replace(refine=False))
    assert np.abs(chosen - refine(plain, blurry, field, views=1, strength=1.0)).max() < 1e-5
    assert np.abs(default - refine(plain, blurry, field)).max() < 1e-5
    assert np.abs(default - chosen).max() > 1e-4


@pytest.mark.parametrize("bad", [{"refiner_views": 3}, {"refiner_views": True},
                                 {"refiner_views": 2.5}, {"refiner_views": 2.0},
                                 {"refiner_views": np.array([1, 2])}, {"refiner_strength": 1.5},
                                 {"refiner_strength": -0.1}, {"refiner_strength": float("nan")},
                                 {"refiner_strength": "half"}, {"refiner_strength": True}])
def test_bad_views_or_strength_are_refused_up_front(bad):
    with pytest.raises(ValueError, match="refiner (views|strength)"):
        DeconvolutionSettings(**bad)


@pytest.mark.parametrize("bad", [{"views": 0}, {"views": 16}, {"strength": 2.0}])
def test_refine_refuses_bad_views_or_strength(case, bad):
    image, blurry, field = case
    with pytest.raises(ValueError, match="refiner (views|strength)"):
        refine(image, blurry, field, model=_random_refiner(), **bad)


def test_views_of_an_odd_sized_image_join_blocks_without_seams(monkeypatch):
    rng = np.random.default_rng(5)
    image = rng.uniform(0, 1, (150, 131)).astype(np.float32)  # sides not multiples of 4
    blurry = rng.uniform(0, 1, image.shape).astype(np.float32)
    field = MotionField(rng.uniform(0, 30, image.shape), rng.uniform(0, 180, image.shape))
    model = _random_refiner(3)
    whole = refine(image, blurry, field, model=model, views=8)
    monkeypatch.setattr(refiner_module, "BLOCK", 56)  # 3 x 3 blocks of each turned view
    blocks = refine(image, blurry, field, model=model, views=8)
    assert whole.shape == image.shape
    assert np.abs(blocks - whole).max() < 1e-5
    assert np.abs(whole - refine(image, blurry, field, model=model, views=1)).max() > 1e-3
