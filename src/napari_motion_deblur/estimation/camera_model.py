"""One camera motion for the whole image, fitted to the estimate and measured on the cepstrum.

Camera shake in the image plane (translation, rotation about the optical axis, zoom) moves the
pixel at ``z = (col + i row) / size`` (a complex number; ``size`` the longer image side) by the
complex displacement ``D(z) = alpha + beta z`` (``dcol + i drow``): a similarity motion, four
numbers for the whole image. The streak there is ``|D| + 1`` px long (as in
:func:`~napari_motion_deblur.physics.synthesis.field_from_displacement`).

Motion-Net's per-pixel estimate is right in shape but its lengths are biased (long streaks come
out short, short ones long) and the cepstral check can confirm a patch only where the blur is
uniform over it. :func:`camera_check` therefore

1. fits a similarity motion to the estimate (sign-free streaks: RANSAC over pairs of pixels,
   then least squares on the inliers);
2. scales and turns that motion as a whole (``c D``, ``|c|`` in 0.6-1.6, ``arg c`` within
   +-10 degrees) to where the cepstra of all 128-, 96- and 64-px patches, pooled (the
   smaller ones see less of a varying motion), dip deepest: each patch's
   cepstrum is read at the streak the motion predicts at its centre, so every patch adds its
   evidence, even where its own dip is too weak to confirm it alone; where the fitted motion
   is long, the pooled cepstra of the image at half resolution add theirs (a long streak's
   spectral zeros lie too close together for a 128-px patch); a motion that is nearly a
   translation is also searched at up to 2.4 x with both resolutions (Motion-Net may have
   answered a long streak at half its length: :data:`TRANSLATION_SPREAD`);
3. keeps the result only where the evidence is clear (the pooled dip against the same motion
   turned by 30 and 90 degrees) and the estimate fits one camera motion at all (residual), and
   there only at pixels whose estimate agrees with it, so moving objects keep their own
   streaks. Those pixels count as confirmed.

Thresholds were chosen on half of the held-out Train400 images and checked on the other half
(``benchmarks/camera_gate.py``, ``benchmarks/results/camera_gate.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion import MAX_LENGTH, MotionField
from ..physics.reference import linear_path
from ..physics.synthesis import field_from_displacement
from .spectral import (
    SPECTRAL_PATCH,
    SPECTRAL_STRIDE,
    _cepstrum_radius,
    _geometry,
    _max_travel,
    check_cepstra,
    patch_cepstra,
)

#: Accept the camera motion only if its pooled cepstral dip beats the turned motions' by this
#: many robust standard deviations per patch (summed over the patch sizes and resolutions),
#: and if it explains the estimate to within this share of the estimate's squared displacement.
MIN_MARGIN = 4.0
MAX_RESIDUAL = 0.05
#: A pixel's estimate agrees with the camera motion within this many px, or this share of the
#: camera's streak, whichever is larger.
AGREE_PX = 3.0
AGREE_RELATIVE = 0.5
SCALES = np.round(np.arange(0.6, 1.6001, 0.02), 2)
TURNS = np.arange(-10.0, 10.001, 1.0)
#: The resolutions whose pooled cepstra are summed (1: the image; 2: its 2 x 2 block means),
#: the coarser ones only where the fitted motion's median streak is at least
#: ``MULTISCALE_FROM`` px: a 128-px patch resolves long streaks poorly (its dip can fall at
#: half the length), while coarse patches, spanning 256 px, blur a varying motion
#: (``benchmarks/blind_knobs.py --grid long``, held-out images).
DOWNSCALES = (1, 2)
MULTISCALE_FROM = 22.0
#: Patch sides (px) of the full-resolution pooled cepstra, summed: 64- and 96-px patches add
#: evidence where the motion varies within a 128-px patch (strong camera shake), which smears
#: the larger patch's dip; with them the margin is 4
#: (``benchmarks/blind_knobs.py --grid patches``, held-out images). ``SINGLE_PATCH``: the
#: 128-px patches alone, with their margin of 3 (the camera model before).
PATCHES = (SPECTRAL_PATCH, 64, 96)
SINGLE_PATCH = {"patches": (SPECTRAL_PATCH,), "min_margin": 3.0}
#: A fitted motion that is nearly a translation (streak lengths spread, 10th to 90th
#: percentile, by at most ``TRANSLATION_SPREAD`` of their median) is also searched at up to
#: 2.4 x its length with the coarse cepstra: Motion-Net can answer a long streak at half its
#: length (curved paths, JPEG), and the fine cepstra then dip weakly there too. A varying
#: motion's coarse patches mix streaks, so it is not searched so wide. The wider result
#: replaces an accepted usual one only if that won narrowly (margin above ``CLEAR_MARGIN``: a
#: streak of length L also dips at 2 L) and dips less deeply by ``WIDE_GAIN`` on the same
#: cepstra (``benchmarks/blind_knobs.py --grid wide`` and ``--grid translations``).
TRANSLATION_SPREAD = 0.4
WIDE_SCALES = np.round(np.arange(0.6, 2.4001, 0.02), 2)
WIDE_GAIN = 2.0
CLEAR_MARGIN = 6.0
_FIT_SAMPLES = 4000
_RANSAC_TRIALS = 300


@dataclass(frozen=True)
class SimilarityMotion:
    """Displacement ``alpha + beta z`` at ``z = (col + i row) / size`` (see the module notes)."""

    alpha: complex
    beta: complex
    size: float

    def displacement(self, z: np.ndarray) -> np.ndarray:
        return self.alpha + self.beta * z

    def turned(self, factor: complex) -> SimilarityMotion:
        """The same motion times a complex ``factor`` (scaled by its modulus, turned by its
        argument)."""
        return SimilarityMotion(self.alpha * factor, self.beta * factor, self.size)

    def field(self, shape) -> MotionField:
        """The per-pixel field of this motion, lengths capped at the bank's longest streak."""
        d = self.displacement(_positions(shape, self.size))
        field = field_from_displacement(d.imag, d.real)
        return MotionField(np.minimum(field.length, MAX_LENGTH), field.angle)


def _positions(shape, size: float, step: int = 1) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape[0] : step, 0 : shape[1] : step]
    return (cols + 1j * rows) / size


def displacement(field: MotionField) -> np.ndarray:
    """Complex displacement ``dcol + i drow`` of each streak (its sign is arbitrary)."""
    start, end = linear_path(field)
    drow, dcol = end - start
    return dcol + 1j * drow


def sign_free_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between streak displacements, whichever their signs."""
    return np.minimum(np.abs(a - b), np.abs(a + b))


def _tolerance(model: np.ndarray) -> np.ndarray:
    return np.maximum(1.5, 0.2 * np.abs(model))


def fit_similarity(field: MotionField, seed: int = 0) -> tuple[SimilarityMotion, float]:
    """The similarity motion closest to ``field`` and the share of its squared displacement
    left unexplained (0: a perfect fit).

    RANSAC over pairs of sampled pixels (both relative signs) finds the motion with the most
    inliers; least squares on the inliers, with signs taken from the motion, refines it.
    """
    h, w = field.shape
    size = float(max(h, w))
    step = max(1, int(np.sqrt(h * w / _FIT_SAMPLES)))
    d = displacement(MotionField(field.length[::step, ::step], field.angle[::step, ::step]))
    d = d.ravel()
    z = _positions((h, w), size, step).ravel()
    energy = float(np.sum(np.abs(d) ** 2))
    if energy == 0.0 or d.size < 2:
        return SimilarityMotion(0j, 0j, size), 0.0
    rng = np.random.default_rng(seed)
    best, best_count = (0j, 0j), -1
    for _ in range(_RANSAC_TRIALS):
        i, j = rng.choice(d.size, 2, replace=False)
        if abs(z[j] - z[i]) < 0.1:  # too close to tell rotation and zoom from translation
            continue
        for sign in (1.0, -1.0):
            beta = (sign * d[j] - d[i]) / (z[j] - z[i])
            alpha = d[i] - beta * z[i]
            model = alpha + beta * z
            count = int(np.count_nonzero(sign_free_distance(d, model) < _tolerance(model)))
            if count > best_count:
                best, best_count = (alpha, beta), count
    alpha, beta = best
    for _ in range(10):
        model = alpha + beta * z
        inliers = sign_free_distance(d, model) < _tolerance(model)
        if inliers.sum() < 2:
            break
        sign = np.where(np.abs(d - model) <= np.abs(d + model), 1.0, -1.0)
        design = np.stack([np.ones(int(inliers.sum())), z[inliers]], axis=1)
        (alpha, beta), *_ = np.linalg.lstsq(design, sign[inliers] * d[inliers], rcond=None)
    motion = SimilarityMotion(complex(alpha), complex(beta), size)
    residual = np.sum(sign_free_distance(d, motion.displacement(z)) ** 2) / energy
    return motion, float(residual)


def _travels(motion: SimilarityMotion, shape, points: int) -> np.ndarray:
    """``|D|`` (px) at every pixel up to ``points`` x ``points``, on a grid of as many beyond."""
    step = max(1, min(shape) // points)
    return np.abs(motion.displacement(_positions(shape, motion.size, step)))


def median_streak(motion: SimilarityMotion, shape) -> float:
    """The median streak length (px, uncapped) of ``motion`` over an image of ``shape``."""
    return float(np.median(_travels(motion, shape, 512)) + 1.0)


def streak_spread(motion: SimilarityMotion, shape) -> float:
    """How much the streak lengths of ``motion`` vary over an image of ``shape``: their 10th
    to 90th percentile range over their median (0 for a translation)."""
    low, median, high = np.percentile(_travels(motion, shape, 128), [10, 50, 90])
    return float((high - low) / max(median, 1e-6))


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` averaged over ``factor`` x ``factor`` blocks (a remainder at the edge dropped)."""
    h, w = (n - n % factor for n in image.shape)
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))


class PooledCepstra:
    """The cepstra of an image's overlapping patches, each as robust z-scores over its streak
    annulus, read at the streaks a camera motion predicts (:meth:`score`).

    With ``downscale`` f > 1 the cepstra are those of the image averaged over f x f blocks
    (``cepstra`` is then ignored), read at the motion's streaks shrunk f times: a 128-px patch
    there spans 128 f px of the image and resolves streaks up to f times longer, where the
    full-resolution patch holds too few of the long streak's spectral zeros to show them.
    Positions and motions stay in the image's pixels."""

    def __init__(self, lum: np.ndarray, cepstra: tuple | None = None,
                 patch: int = SPECTRAL_PATCH, stride: int = SPECTRAL_STRIDE,
                 downscale: int = 1):
        self.downscale = int(downscale)
        if self.downscale > 1:
            lum = block_mean(np.asarray(lum, np.float64), self.downscale)
            cepstra = None
        lum, patch, stride = _geometry(lum, patch, stride)
        rows, cols, raw = (check_cepstra(lum.shape, patch, stride, cepstra)
                           if cepstra is not None else patch_cepstra(lum, patch, stride))
        self.radius = _cepstrum_radius(patch)
        self.max_travel = _max_travel(patch)
        r = np.arange(-self.radius, self.radius + 1)
        distance = np.hypot(r[:, None], r[None])
        annulus = (distance >= 1.5) & (distance <= self.max_travel)
        values = raw[..., annulus]
        median = np.median(values, axis=-1)
        spread = np.median(np.abs(values - median[..., None]), axis=-1) + 1e-12
        scores = (raw - median[..., None, None]) / spread[..., None, None]
        self.scores = scores.reshape(-1, *scores.shape[-2:])
        centres_r = np.asarray(rows, np.float64) + (patch - 1) / 2.0
        centres_c = np.asarray(cols, np.float64) + (patch - 1) / 2.0
        # positions and displacements in the full image's pixels (a block's centre)
        f = self.downscale
        self.size = float(max(lum.shape)) * f
        self.centres = (((centres_c[None] + 0.5) * f - 0.5
                         + 1j * ((centres_r[:, None] + 0.5) * f - 0.5)) / self.size).ravel()

    def score(self, motion: SimilarityMotion) -> float:
        """Mean z-score of the cepstra at the motion's streaks (negative: a dip); a patch whose
        streak is too short or too long for it to see adds 0."""
        d = motion.displacement(self.centres) / self.downscale
        travel = np.abs(d)
        seen = np.flatnonzero((travel >= 1.5) & (travel <= self.max_travel))
        if seen.size == 0:
            return 0.0
        rr, cc = self.radius + d.imag[seen], self.radius + d.real[seen]
        r0, c0 = np.floor(rr).astype(int), np.floor(cc).astype(int)
        fr, fc = rr - r0, cc - c0
        s = self.scores
        value = (s[seen, r0, c0] * (1 - fr) * (1 - fc) + s[seen, r0 + 1, c0] * fr * (1 - fc)
                 + s[seen, r0, c0 + 1] * (1 - fr) * fc + s[seen, r0 + 1, c0 + 1] * fr * fc)
        return float(value.sum() / self.centres.size)


@dataclass(frozen=True)
class CameraFit:
    """What :func:`camera_check` found: the fitted and the refined motion, the fit's residual,
    the refined motion's pooled score and its margin over the turned motions (negative: the
    refined motion dips deeper), whether it was used, and whether it came from the wider
    search of a nearly translational motion."""

    fitted: SimilarityMotion
    refined: SimilarityMotion
    residual: float
    score: float
    margin: float
    accepted: bool
    wide: bool = False


def pooled_score(cepstra, motion: SimilarityMotion) -> float:
    """The score of ``motion`` (:meth:`PooledCepstra.score`) summed over ``cepstra``, one
    :class:`PooledCepstra` or several (e.g. of the image at two resolutions)."""
    if isinstance(cepstra, PooledCepstra):
        return cepstra.score(motion)
    return float(sum(c.score(motion) for c in cepstra))


def refine_motion(cepstra, motion: SimilarityMotion, scales=SCALES
                  ) -> tuple[SimilarityMotion, float, float]:
    """The scaled and turned ``motion`` whose pooled cepstral dip is deepest, its score and its
    margin over the same motion turned by 90 and +-30 degrees (``cepstra``: one
    :class:`PooledCepstra` or several, their scores summed)."""
    best, best_score = motion, np.inf
    for scale in scales:
        for turn in TURNS:
            candidate = motion.turned(scale * np.exp(1j * np.radians(turn)))
            value = pooled_score(cepstra, candidate)
            if value < best_score:
                best, best_score = candidate, value
    null = np.mean([pooled_score(cepstra, best.turned(np.exp(1j * np.radians(a))))
                    for a in (90.0, 30.0, -30.0)])
    return best, float(best_score), float(best_score - null)


def _wider(fit: CameraFit, pooled: list, scales, min_margin: float, multiscale_from: float,
           shape, clear_margin: float = CLEAR_MARGIN) -> CameraFit:
    """``fit``, or the wider search's motion (see :data:`TRANSLATION_SPREAD`) where that is
    long enough for the coarse cepstra and clear, and the usual search was either not
    accepted or accepted narrowly and dips less deeply by :data:`WIDE_GAIN`."""
    if fit.accepted and fit.margin <= -clear_margin:
        return fit
    refined, score, margin = refine_motion(pooled, fit.fitted, scales)
    if median_streak(refined, shape) < multiscale_from or margin > -min_margin:
        return fit
    if fit.accepted and score > pooled_score(pooled, fit.refined) - WIDE_GAIN:
        return fit
    return CameraFit(fit.fitted, refined, fit.residual, score, margin, True, wide=True)


def camera_check(lum: np.ndarray, field: MotionField, confidence: np.ndarray,
                 cepstra: tuple | None = None, min_margin: float = MIN_MARGIN,
                 max_residual: float = MAX_RESIDUAL, downscales=DOWNSCALES, scales=SCALES,
                 multiscale_from: float = MULTISCALE_FROM, patches=PATCHES,
                 wide_scales=WIDE_SCALES, clear_margin: float = CLEAR_MARGIN,
                 wide_margin: float | None = None, wide_residual: float | None = None
                 ) -> tuple[MotionField, np.ndarray, CameraFit]:
    """Replace ``field`` by one refined camera motion where that motion is clear and agrees.

    Parameters
    ----------
    lum : numpy.ndarray, (H, W)
        Luminance in [0, 1].
    field : MotionField
        The estimate (Motion-Net's, after the cepstral check), the image's shape.
    confidence : numpy.ndarray, (H, W)
        Where the estimate is already confirmed (0-1).
    cepstra : tuple, optional
        The image's unsmoothed patch cepstra ``(rows, cols, values)`` if already computed.
    min_margin, max_residual : float
        Acceptance (see the module notes).
    downscales : tuple of int
        The resolutions whose pooled cepstra are summed (:class:`PooledCepstra`'s
        ``downscale``; 1 must be among them to use ``cepstra``).
    scales : array_like
        The factors on the fitted motion's length that are searched.
    multiscale_from : float
        The coarser resolutions are used only where the fitted motion's median streak is at
        least this long (px); shorter motions are judged at full resolution alone.
    patches : tuple of int
        Patch sides (px) of the full-resolution pooled cepstra; the 128-px ones (``cepstra``,
        if given) are always pooled, the others are added. :data:`SINGLE_PATCH` gives the
        128-px patches alone with their margin.
    wide_scales : array_like or None
        The factors searched, with the coarse cepstra, for a nearly translational fitted
        motion (:data:`TRANSLATION_SPREAD`); None: not searched.
    clear_margin : float
        A usual motion accepted with at least this margin is kept without the wide search.
    wide_margin, wide_residual : float, optional
        The margin and fit residual the wide search's motion needs (default ``min_margin``,
        ``max_residual``).

    Returns
    -------
    field : MotionField
        The camera motion's streaks where accepted and agreeing, the input's elsewhere.
    confidence : numpy.ndarray, (H, W)
        1 where the camera motion was used, the input confidence elsewhere.
    fit : CameraFit
        The motions and numbers behind the decision.
    """
    if field.shape != lum.shape:
        raise ValueError(f"field shape {field.shape} differs from the image's {lum.shape}")
    fitted, residual = fit_similarity(field)
    streak = median_streak(fitted, field.shape)
    levels: dict[int, PooledCepstra] = {}

    def at(f: int) -> PooledCepstra:
        if f not in levels:
            levels[f] = PooledCepstra(lum, cepstra if f == 1 else None, downscale=f)
        return levels[f]

    extra = [PooledCepstra(lum, patch=p, stride=p // 4) for p in patches if p != SPECTRAL_PATCH]
    used = downscales if streak >= multiscale_from else (1,)
    refined, score, margin = refine_motion([at(f) for f in used] + extra, fitted, scales)
    accepted = bool(residual <= max_residual and margin <= -min_margin)
    fit = CameraFit(fitted, refined, residual, score, margin, accepted)
    coarse = [f for f in downscales if f > 1]
    if (wide_scales is not None and coarse
            and residual <= (max_residual if wide_residual is None else wide_residual)
            and streak * max(wide_scales) >= multiscale_from
            and streak_spread(fitted, field.shape) <= TRANSLATION_SPREAD):
        fit = _wider(fit, [at(f) for f in (1, *coarse)] + extra, wide_scales,
                     min_margin if wide_margin is None else wide_margin, multiscale_from,
                     field.shape, clear_margin)
    if not fit.accepted:
        return field, confidence, fit
    camera = fit.refined.field(field.shape)
    # the wider search's motion is up to 2.4 x the estimate: agreement is judged against the
    # motion fitted to the estimate, at the estimate's own scale
    model = displacement(fit.fitted.field(field.shape) if fit.wide else camera)
    agree = (sign_free_distance(displacement(field), model)
             < np.maximum(AGREE_PX, AGREE_RELATIVE * np.abs(model)))
    out = MotionField(np.where(agree, camera.length, field.length),
                      np.where(agree, camera.angle, field.angle))
    return out, np.where(agree, 1.0, confidence).astype(np.float32), fit
