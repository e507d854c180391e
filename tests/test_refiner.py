"""The learned refiner of blind deconvolution: identity at start, seamless blocks, its place in
``deconvolve``/``deblur``, and its training script."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from napari_motion_deblur import deconvolve
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.physics.compression import jpeg_round_trip
from napari_motion_deblur.physics.synthesis import blur
from napari_motion_deblur.settings import DeblurSettings, DeconvolutionSettings
from napari_motion_deblur.solvers import refiner as refiner_module
from napari_motion_deblur.solvers.refiner import (
    HALO,
    Refiner,
    load_refiner,
    refine,
    save_refiner,
    widened,
)
from napari_motion_deblur.training import refiner as training


@pytest.fixture(scope="module")
def camera():
    return skimage.data.camera()[100:260, 100:260].astype(np.float32) / 255.0


def _random_refiner(seed: int = 0) -> Refiner:
    torch.manual_seed(seed)
    model = Refiner(width=8)
    torch.nn.init.normal_(model.dec1[-1].weight, std=0.05)  # not the identity it starts as
    return model.eval()


def test_a_new_refiner_is_the_identity(camera):
    field = MotionField.uniform(camera.shape, 9.0, 30.0)
    blurry = blur(camera, field)
    out = refine(camera, blurry, field, model=Refiner(width=8).eval())
    assert out.dtype == np.float32 and out.shape == camera.shape
    assert np.allclose(out, np.clip(camera, 0, 1), atol=1e-6)


def test_the_halo_covers_the_networks_reach():
    model = _random_refiner()
    x = torch.zeros(1, 160, 160, requires_grad=True)
    out = model(x, torch.zeros(1, 160, 160), torch.zeros(1, 160, 160))
    out[0, 80, 80].backward()
    rows, cols = np.nonzero(x.grad[0].abs().numpy() > 0)
    reach = max(80 - rows.min(), rows.max() - 80, 80 - cols.min(), cols.max() - 80)
    assert 0 < reach < HALO


def test_blocks_join_without_seams(monkeypatch):
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (150, 131, 3)).astype(np.float32)
    blurry = rng.uniform(0, 1, image.shape).astype(np.float32)
    field = MotionField(rng.uniform(0, 30, image.shape[:2]), rng.uniform(0, 180, image.shape[:2]))
    model = _random_refiner()
    whole = refine(image, blurry, field, model=model)
    monkeypatch.setattr(refiner_module, "BLOCK", 56)  # 3 x 3 blocks, halo 48
    blocks = refine(image, blurry, field, model=model)
    assert not np.allclose(whole, np.clip(image, 0, 1), atol=1e-3)  # the model does something
    assert np.abs(blocks - whole).max() < 1e-5
    # Colour is refined channel by channel.
    gray = refine(image[..., 1], blurry[..., 1], field, model=model)
    assert np.abs(gray - whole[..., 1]).max() < 1e-5


def test_refine_rejects_mismatched_shapes(camera):
    field = MotionField.uniform((10, 10), 5.0, 0.0)
    with pytest.raises(ValueError, match="must match"):
        refine(camera, camera, field)


@pytest.mark.parametrize("which", [{}, {"photo": True}, {"compressed": True}])
def test_packaged_weights_leave_a_sharp_image_alone(which):
    model = load_refiner(**which)
    assert model.config["width"] == (32 if which.get("compressed") else 16)
    # A sharp, unblurred image (length 0 everywhere) stays close to itself.
    sharp = skimage.data.camera()[:128, :128].astype(np.float32) / 255.0
    out = refine(sharp, sharp, MotionField.uniform(sharp.shape, 0.0, 0.0), model=model)
    assert np.abs(out - sharp).mean() < 0.02


def test_save_load_round_trip(tmp_path):
    model = _random_refiner(3)
    save_refiner(model, tmp_path / "r.pt", {"note": "test"})
    loaded = load_refiner(tmp_path / "r.pt")
    x = torch.rand(1, 32, 32)
    assert torch.allclose(model(x, x, x), loaded(x, x, x))
    assert (tmp_path / "r.json").exists()
    with pytest.raises(ValueError, match="retrain"):
        load_refiner(tmp_path / "missing.pt")


def test_deconvolve_refines_the_last_stage_only_when_asked(camera):
    field = MotionField.uniform(camera.shape, 11.0, 60.0)
    blurry = blur(camera, field, noise_sigma=0.01, seed=0)
    settings = DeconvolutionSettings(stages=2, iterations=1, device="cpu")
    plain = deconvolve(blurry, field, settings=settings)
    refined = deconvolve(blurry, field, settings=settings.replace(refine=True))
    expected = refine(plain, blurry, field)
    assert np.abs(refined - expected).max() < 1e-5
    assert np.abs(refined - plain).max() > 1e-3


def test_jpeg_compressed_inputs_are_refined_by_the_jpeg_refiner(camera):
    field = MotionField.uniform(camera.shape, 11.0, 60.0)
    blurry = blur(camera, field, noise_sigma=0.01, seed=0)
    decoded = jpeg_round_trip(blurry, 90)[3:, 5:]  # the grid moved
    cropped = MotionField(field.length[3:, 5:], field.angle[3:, 5:])
    settings = DeconvolutionSettings(stages=2, iterations=1, device="cpu")
    plain = deconvolve(decoded, cropped, settings=settings)
    refined = deconvolve(decoded, cropped, settings=settings.replace(refine=True))
    jpeg = refine(plain, decoded, cropped, model=load_refiner(compressed=True))
    default = refine(plain, decoded, cropped, model=load_refiner())
    assert np.abs(refined - jpeg).max() < 1e-5
    assert np.abs(refined - default).max() > 1e-3


def test_only_pairs_with_a_jpeg_input_are_kept_for_the_jpeg_refiner(camera):
    decoded = jpeg_round_trip(camera, 90)
    pool = np.stack([np.stack([camera, blurry, camera, camera]) for blurry in (camera, decoded)])
    kept = training.jpeg_pairs(pool)
    assert kept.shape == (1, *pool.shape[1:]) and np.array_equal(kept[0], pool[1])
    others = training.jpeg_pairs(pool, jpeg=False)  # the default refiner's
    assert others.shape == (1, *pool.shape[1:]) and np.array_equal(others[0], pool[0])


def test_a_luminance_deconvolution_is_refined_through_its_luminance(camera):
    rgb = np.stack([camera, camera[::-1], camera[:, ::-1]], axis=-1)
    field = MotionField.uniform(camera.shape, 9.0, 120.0)
    blurry = blur(rgb, field, noise_sigma=0.01, seed=1)
    settings = DeconvolutionSettings(stages=1, iterations=1, device="cpu", colour="luminance")
    plain = deconvolve(blurry, field, settings=settings)
    refined = deconvolve(blurry, field, settings=settings.replace(refine=True))
    change = refined - plain
    inside = ((refined > 0.0) & (refined < 1.0)).all(-1)  # no channel clipped
    assert np.abs(change).max() > 1e-3
    # One correction, the luminance's, added to every channel.
    assert np.abs(change[..., 0] - change[..., 1])[inside].max() < 1e-5
    assert np.abs(change[..., 0] - change[..., 2])[inside].max() < 1e-5


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_refine_setting_is_a_bool(bad):
    with pytest.raises(ValueError, match="refine must be True or False"):
        DeconvolutionSettings(refine=bad)


def test_refine_needs_a_motion_field(camera):
    with pytest.raises(ValueError, match="needs a motion field"):
        deconvolve(camera, np.ones((5, 5)), settings=DeconvolutionSettings(refine=True))


def test_blind_deblurring_refines_by_default():
    assert DeblurSettings().deconvolution.refine is True


@pytest.mark.parametrize("kind", ["psnr", "mse"])
def test_training_step_lowers_loss(kind):
    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 1, (6, 40, 40)).astype(np.float32)
    noisy = sharp + rng.normal(0, 0.1, sharp.shape).astype(np.float32)
    pool = np.stack([noisy, noisy, np.full_like(sharp, 10.0), sharp], axis=1)
    batch = training.training_batch(pool, rng, 4, crop=32)
    assert batch.shape == (4, 4, 32, 32)
    torch.manual_seed(0)
    model = Refiner(width=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = training.loss_fn(model, batch, kind=kind)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    if kind == "mse":
        assert losses[-1] < 0.9 * losses[0]
    else:  # minus the mean PSNR, in dB
        assert losses[-1] < losses[0] - 0.5


def test_psnr_loss_is_minus_the_mean_psnr_of_the_crops():
    rng = np.random.default_rng(1)
    sharp = rng.uniform(0, 1, (2, 24, 24)).astype(np.float32)
    # One crop far off, one close: pooled squared error would be all about the first.
    deconvolved = sharp + np.stack([np.full((24, 24), 0.3), np.full((24, 24), 0.01)]
                                   ).astype(np.float32)
    batch = torch.from_numpy(np.stack([deconvolved, sharp, np.zeros_like(sharp), sharp], 1))
    model = Refiner(width=8)  # the identity: out = deconvolved
    loss = training.loss_fn(model, batch, border=4, kind="psnr").item()
    inner = (deconvolved - sharp)[:, 4:-4, 4:-4]
    expected = np.mean([10 * np.log10(np.mean(e**2) + 1e-5) for e in inner])
    assert loss == pytest.approx(expected, abs=1e-3)
    with pytest.raises(ValueError, match="psnr"):
        training.loss_fn(model, batch, kind="l1")


def test_pairs_are_made_by_the_blind_chain_and_reproducible():
    sources = training.Sources(None, crop=training.PAIR, synthetic_pool=2, seed=0, photos=False)
    # The chain as deblur() runs it, without the refiner it is to train.
    assert training.blind_chain().deconvolution.refine is False
    first = training.make_pair(sources, np.random.default_rng(5))
    again = training.make_pair(sources, np.random.default_rng(5))
    assert first.shape == (4, training.PAIR, training.PAIR) and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert first[2].max() <= 35.0 and first[2].min() >= 0.0


def test_photo_pairs_can_be_deconvolved_in_linear_light():
    sources = training.Sources(None, crop=training.PAIR, synthetic_pool=2, seed=0, photos=False)
    changed = []
    for seed in range(4):
        plain = training.make_pair(sources, np.random.default_rng(seed))
        light = training.make_pair(sources, np.random.default_rng(seed),
                                   photos_in_linear_light=True)
        assert np.array_equal(plain[1:], light[1:])  # the same crops, blur and estimate
        changed.append(not np.array_equal(plain[0], light[0]))
    # only the camera-pipeline half of the pairs is deconvolved differently
    assert any(changed) and not all(changed)


def test_a_small_training_image_still_makes_a_full_pair():
    sources = training.Sources(None, crop=training.PAIR, synthetic_pool=1, seed=0, photos=False)
    small = np.random.default_rng(0).uniform(0, 1, (150, 170)).astype(np.float32)
    sources.train = sources.synthetic = [small]  # smaller than the pair plus its 2 x 20 px border
    pair = training.make_pair(sources, np.random.default_rng(1))
    assert pair.shape == (4, training.PAIR, training.PAIR) and np.isfinite(pair).all()


def test_training_script_runs_and_resumes(tmp_path):
    out = tmp_path / "out"
    args = ["--out", str(out), "--samples", "2", "--validation", "2", "--width", "8",
            "--batch", "2", "--minutes", "0.03", "--validate-every", "0.5"]
    meta = training.main(args)
    assert sorted(p.name for p in (out / "refiner_pool").iterdir()) == [
        "heldout_000000.npy", "train_000000.npy"]  # the pairs are kept, chunk by chunk
    assert (out / "refiner_train_log.csv").exists()
    assert np.isfinite(meta["validation"]["best"])
    steps = meta["steps"]
    budget = f"{meta['minutes'] + 0.05:.2f}"  # counts the first run: room for a step
    meta = training.main([*args[:-3], budget, *args[-2:], "--resume"])
    assert meta["steps"] > steps


def test_pool_made_in_processes_equals_one_process(tmp_path):
    sources = training.Sources(None, crop=training.PAIR, synthetic_pool=2, seed=0, photos=False)
    one = training.extend_pool(tmp_path / "one", "train", 3, sources, 7, chunk=2,
                               log=lambda _: None)
    two = training.extend_pool(tmp_path / "two", "train", 3, sources, 7, chunk=2,
                               log=lambda _: None, workers=2)
    assert one.shape == (3, 4, training.PAIR, training.PAIR)
    assert np.array_equal(one[:, [1, 3]], two[:, [1, 3]])  # the same blurry and sharp crops
    # one thread per process instead of two: only the sums' rounding differs
    np.testing.assert_allclose(one[:, [0, 2]], two[:, [0, 2]], atol=1e-4)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "train_000000.npy", "train_000002.npy"]


def test_realistic_fraction_decides_which_pairs_go_through_the_camera(tmp_path):
    sources = training.Sources(None, crop=training.PAIR, synthetic_pool=2, seed=0, photos=False)
    kinds = {}
    for fraction in (0.0, 1.0):
        pool = training.extend_pool(tmp_path / str(fraction), "train", 2, sources, 3, chunk=2,
                                    log=lambda _: None, realistic_fraction=fraction)
        kinds[fraction] = len(training.jpeg_pairs(pool))
    assert kinds == {0.0: 0, 1.0: 2}  # the camera pipeline ends in JPEG
    with pytest.raises(SystemExit, match="realistic-fraction"):
        training.main(["--out", str(tmp_path / "o"), "--realistic-fraction", "1.5"])


def test_pool_time_budget_stops_making_pairs(tmp_path):
    sources = training.Sources(None, crop=training.PAIR, synthetic_pool=1, seed=0, photos=False)
    pool = training.extend_pool(tmp_path, "train", 50, sources, 0, chunk=1,
                                log=lambda _: None, minutes=0.0)
    assert pool.shape == (0, 4, training.PAIR, training.PAIR)
    with pytest.raises(SystemExit, match="workers"):
        training.main(["--out", str(tmp_path / "o"), "--workers", "-1"])


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    refiner_module.save_refiner(Refiner(width=8), tmp_path / "start.pt", {})  # the identity
    out = tmp_path / "out"
    meta = training.main(["--out", str(out), "--samples", "2", "--validation", "2",
                          "--batch", "2", "--minutes", "0.02", "--validate-every", "0.5",
                          "--init", str(tmp_path / "start.pt"), "--lr", "0"])
    assert meta["init"] == "start.pt" and meta["loss"] == "psnr"
    assert meta["config"] == {"width": 8}  # the given weights' network, not the default 16
    # With a zero learning rate nothing beats the initial weights, so none are written.
    assert not (out / "refiner.pt").exists()


def test_a_widened_refiner_answers_as_before_and_its_new_channels_learn():
    narrow = _random_refiner()
    wide = widened(narrow, 12)
    assert wide.config == {"width": 12} and wide.enc3[0][0].weight.shape == (48, 24, 3, 3)
    rng = np.random.default_rng(0)
    deconvolved, blurry = (torch.from_numpy(rng.uniform(0, 1, (2, 32, 32)).astype(np.float32))
                           for _ in range(2))
    length = torch.full((2, 32, 32), 12.0)
    with torch.no_grad():
        np.testing.assert_allclose(wide(deconvolved, blurry, length).numpy(),
                                   narrow(deconvolved, blurry, length).numpy(), atol=1e-5)
    # The new channels reach the output through weights that start at zero; training moves them.
    wide(deconvolved, blurry, length).square().mean().backward()
    into_output = wide.dec1[-1].weight
    assert torch.all(into_output[:, 8:] == 0) and into_output.grad[:, 8:].abs().max() > 0


def test_a_refiner_cannot_be_narrowed():
    with pytest.raises(ValueError, match="cannot narrow"):
        widened(_random_refiner(), 4)


def test_training_starts_from_the_given_weights_widened_if_asked(tmp_path):
    start = _random_refiner()
    assert training.initial_model(start, None, 0) is start
    assert training.initial_model(start, 12, 0).config == {"width": 12}
    assert training.initial_model(None, None, 0).config == {"width": 16}
    with pytest.raises(SystemExit, match="--width"):
        training.initial_model(start, 4, 0)
    # Through the script: the weights given, widened, and where they came from.
    save_refiner(start, tmp_path / "start.pt")
    meta = training.main(["--out", str(tmp_path / "out"), "--samples", "2", "--validation", "2",
                          "--batch", "2", "--minutes", "0.02", "--validate-every", "0.5",
                          "--init", str(tmp_path / "start.pt"), "--width", "12", "--lr", "0"])
    assert meta["config"] == {"width": 12} and meta["init_width"] == 8


def test_use_refiner_replaces_the_shared_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(refiner_module, "_CACHE", {})  # the package's cache is left as it was
    refiner_module.save_refiner(Refiner(width=8), tmp_path / "mine.pt")
    mine = refiner_module.use_refiner(tmp_path / "mine.pt")
    assert refiner_module.get_refiner(torch.device("cpu")) is mine
    assert mine.config == {"width": 8} and not mine.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_refine_alike(camera):
    field = MotionField.uniform(camera.shape, 9.0, 30.0)
    blurry = blur(camera, field, noise_sigma=0.01, seed=0)
    a = refine(camera, blurry, field, "cpu")
    b = refine(camera, blurry, field, "cuda")
    assert np.abs(a - b).max() < 1e-4
