"""Pure helpers behind the motion-field layer: field <-> vectors, brush edits and undo.

No Qt and no napari imports, so everything here is unit-testable and reusable from scripts.

A dense :class:`~napari_motion_deblur.motion.MotionField` is shown as a napari Vectors layer
sampled on a regular grid: each vector is the full streak, *centred* on its pixel, so its
position is ``centre - vector / 2`` and its projection is the full ``(drow, dcol)`` vector.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..motion import MAX_LENGTH, MotionField, doubled_angle, undoubled_angle

#: Key of the dense field in a Vectors layer's ``metadata``.
FIELD_KEY = "motion_field"
#: Key of the field as first estimated or loaded (what "reset" returns to).
ORIGINAL_KEY = "motion_field_original"
#: Key of the grid spacing (pixels between displayed streaks).
SPACING_KEY = "grid_spacing"
#: Key of the estimate's confidence, (H, W) in [0, 1] (shown as the streaks' opacity).
CONFIDENCE_KEY = "confidence"
#: Key of where the field comes from: ``"estimate"``, ``"estimate preview"``,
#: ``"ground truth"`` or ``"file"``.
SOURCE_KEY = "motion_source"
#: ``SOURCE_KEY`` value of a sample's true field.
GROUND_TRUTH = "ground truth"
#: ``SOURCE_KEY`` value of an estimate of a preview region only (not for the whole image).
PREVIEW_SOURCE = "estimate preview"
#: Key of the factor the drawn streaks are scaled by (1: drawn at their length).
STREAK_SCALE_KEY = "streak_scale"

#: Matplotlib's "plasma" at 0, 1/4, 1/2, 3/4 and 1 (interpolated linearly in between).
_PLASMA = np.array([[0.050, 0.030, 0.528], [0.494, 0.012, 0.658], [0.798, 0.280, 0.470],
                    [0.973, 0.585, 0.254], [0.940, 0.975, 0.131]])
#: Opacity of a streak the estimate is not confident about (a confident one is opaque).
MIN_OPACITY = 0.5
#: Part of "plasma" used: its darkest quarter is invisible on dark images, so it is skipped.
_PLASMA_FROM = 0.25


def default_spacing(shape: tuple[int, int], max_length: float = 0.0, target: int = 32) -> int:
    """A grid spacing suiting the image: about ``target`` streaks along the longer side.

    The spacing is at least 8 px, and at least 1.1 times ``max_length`` so that streaks drawn
    at their length do not overlap.
    """
    return int(max(8, round(max(shape) / target), np.ceil(1.1 * float(max_length))))


def streak_width(shape: tuple[int, int]) -> float:
    """Line width (data pixels) of the streaks: about two screen pixels when the image fits."""
    return max(1.0, max(shape) / 400)


def streak_scale(spacing: int, max_length: float) -> float:
    """Factor the streaks are drawn at: 1, or less when the longest would not fit the grid."""
    return float(min(1.0, 0.9 * spacing / max(float(max_length), 1e-6)))


def streak_colors(length, confidence=None, vmax: float = MAX_LENGTH) -> np.ndarray:
    """RGBA colours of streaks: "plasma" by length over [0, ``vmax``] (without its darkest
    quarter), opacity by confidence.

    Parameters
    ----------
    length : array_like, shape (N,)
        Streak lengths in pixels.
    confidence : array_like, shape (N,), optional
        Confidence in [0, 1]; opacity goes from ``MIN_OPACITY`` (0) to 1 (1). ``None``: opaque.
    vmax : float
        Length shown in the colormap's last colour.

    Returns
    -------
    numpy.ndarray, shape (N, 4)
        float32 RGBA in [0, 1].
    """
    t = np.clip(np.asarray(length, dtype=np.float64) / max(float(vmax), 1e-6), 0, 1)
    t = _PLASMA_FROM + (1 - _PLASMA_FROM) * t
    anchors = np.linspace(0, 1, len(_PLASMA))
    rgb = np.stack([np.interp(t, anchors, _PLASMA[:, k]) for k in range(3)], axis=-1)
    if confidence is None:
        alpha = np.ones_like(t)
    else:
        alpha = MIN_OPACITY + (1 - MIN_OPACITY) * np.clip(np.asarray(confidence, float), 0, 1)
    return np.concatenate([rgb, alpha[:, None]], axis=1).astype(np.float32)


def grid_centres(shape: tuple[int, int], spacing: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the grid pixels at which streaks are drawn."""
    spacing = max(1, int(spacing))
    rows = np.arange(spacing // 2, shape[0], spacing)
    cols = np.arange(spacing // 2, shape[1], spacing)
    return np.meshgrid(rows, cols, indexing="ij")


def field_to_vectors(field: MotionField, spacing: int, scale: float = 1.0,
                     confidence=None) -> tuple[np.ndarray, dict]:
    """Sample a field on a grid as napari Vectors data and features.

    Parameters
    ----------
    field : MotionField
        The dense field.
    spacing : int
        Pixels between grid points.
    scale : float
        Factor the drawn streaks are scaled by (1: at their length).
    confidence : numpy.ndarray, shape (H, W), optional
        The estimate's confidence, sampled into the ``"confidence"`` feature.

    Returns
    -------
    data : numpy.ndarray, shape (N, 2, 2)
        ``[[row, col], [drow, dcol]]`` with each streak centred on its grid pixel.
    features : dict
        ``{"length": (N,), "angle": (N,)}`` at the grid pixels (and ``"confidence"``).
    """
    rr, cc = grid_centres(field.shape, spacing)
    rr, cc = rr.ravel(), cc.ravel()
    length = field.length[rr, cc].astype(np.float64)
    angle = field.angle[rr, cc].astype(np.float64)
    rad = np.radians(angle)
    vec = float(scale) * np.stack([-length * np.sin(rad), length * np.cos(rad)], axis=1)
    centre = np.stack([rr, cc], axis=1).astype(np.float64)
    data = np.stack([centre - vec / 2, vec], axis=1).astype(np.float32)
    features = {"length": length.astype(np.float32), "angle": angle.astype(np.float32)}
    if confidence is not None:
        features["confidence"] = np.asarray(confidence, np.float32)[rr, cc]
    return data, features


def field_display(field: MotionField, spacing: int | None = None, confidence=None) -> dict:
    """Everything a motion Vectors layer shows for ``field``: data, features, colours, sizes.

    Returns a dict with ``data``, ``features``, ``edge_color`` (RGBA per streak), ``edge_width``,
    ``spacing`` and ``scale`` (the factor the streaks are drawn at).
    """
    max_length = float(field.length.max())
    spacing = int(spacing or default_spacing(field.shape, max_length))
    scale = streak_scale(spacing, max_length)
    data, features = field_to_vectors(field, spacing, scale, confidence)
    colors = streak_colors(features["length"], features.get("confidence"),
                           vmax=max(max_length, 2.0))
    return {"data": data, "features": features, "edge_color": colors,
            "edge_width": streak_width(field.shape), "spacing": spacing, "scale": scale}


def field_layer_data(field: MotionField, name: str, spacing: int | None = None,
                     original: MotionField | None = None, *, confidence=None,
                     source: str = "file", **kwargs) -> tuple:
    """A napari LayerDataTuple ``(data, kwargs, "vectors")`` showing ``field``.

    The dense field (and the one "reset" returns to), its confidence and its source travel in
    ``metadata`` so that writing the layer saves the exact field. Extra ``kwargs``
    (``scale``, ``translate``, ``visible``, ...) are passed on.
    """
    shown = field_display(field, spacing, confidence)
    metadata = {FIELD_KEY: field, ORIGINAL_KEY: original if original is not None else field,
                SPACING_KEY: shown["spacing"], STREAK_SCALE_KEY: shown["scale"],
                SOURCE_KEY: source}
    if confidence is not None:
        metadata[CONFIDENCE_KEY] = np.asarray(confidence, np.float32)
    layer_kwargs = {
        "name": name,
        "features": shown["features"],
        "edge_color": shown["edge_color"],
        "edge_width": shown["edge_width"],
        "vector_style": "line",
        "opacity": 1.0,
        "metadata": metadata,
    }
    layer_kwargs.update(kwargs)
    return shown["data"], layer_kwargs, "vectors"


def vectors_to_field(data, shape: tuple[int, int]) -> MotionField:
    """Rebuild a dense field from Vectors data by nearest-neighbour fill (a fallback).

    Used when a Vectors layer carries no dense field in its metadata (e.g. drawn by hand or
    read by another plugin). Streak centres are ``position + projection / 2``.
    """
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3 or data.shape[1:] != (2, 2) or len(data) == 0:
        raise ValueError(f"expected 2-D Vectors data of shape (N, 2, 2), got {data.shape}")
    centres = data[:, 0] + data[:, 1] / 2
    rows = np.clip(np.round(centres[:, 0]).astype(int), 0, shape[0] - 1)
    cols = np.clip(np.round(centres[:, 1]).astype(int), 0, shape[1] - 1)
    seeds = np.full(shape, -1, dtype=np.int64)
    seeds[rows, cols] = np.arange(len(data))
    _, (ir, ic) = ndimage.distance_transform_edt(seeds < 0, return_indices=True)
    index = seeds[ir, ic]
    vec = data[index, 1]
    return MotionField.from_vectors(vec[..., 0], vec[..., 1])


def drag_to_streak(start, end) -> tuple[float, float]:
    """(length, angle) of the streak a drag from ``start`` to ``end`` (row, col) draws."""
    drow, dcol = float(end[0]) - float(start[0]), float(end[1]) - float(start[1])
    streak = MotionField.from_vectors([[drow]], [[dcol]])
    return min(float(streak.length[0, 0]), MAX_LENGTH), float(streak.angle[0, 0])


def _blend(field: MotionField, weight: np.ndarray, length, angle) -> MotionField:
    """Blend ``field`` towards (length, angle) with per-pixel ``weight`` in [0, 1].

    Lengths blend linearly; orientations blend as doubled-angle unit vectors, so 179 deg and
    1 deg average to 0 deg (a streak has no sign).
    """
    w = np.clip(weight, 0.0, 1.0).astype(np.float64)
    old_len = field.length.astype(np.float64)
    old_c, old_s = doubled_angle(field.angle, 1 - w)
    new_c, new_s = doubled_angle(angle, w)
    blended = undoubled_angle(old_c + new_c, old_s + new_s)
    # Where the weight is 0 or 1, keep values bit-exact (no round trip through sin/cos).
    blended = np.where(w <= 0, field.angle, np.where(w >= 1, np.asarray(angle) % 180, blended))
    new_len = np.where(w <= 0, old_len, (1 - w) * old_len + w * np.asarray(length))
    return MotionField(new_len, blended)


def brush_weight(shape: tuple[int, int], centre, radius: float) -> np.ndarray:
    """Smooth brush falloff: 1 at ``centre``, a raised cosine to 0 at ``radius`` pixels."""
    radius = max(float(radius), 1.0)
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    dist = np.hypot(rows - float(centre[0]), cols - float(centre[1]))
    return np.where(dist < radius, 0.5 * (1 + np.cos(np.pi * dist / radius)), 0.0)


def brush_edit(field: MotionField, centre, length: float, angle: float, radius: float
               ) -> MotionField:
    """Return ``field`` with (length, angle) painted around ``centre`` (row, col).

    Parameters
    ----------
    field : MotionField
        The field to edit (not modified).
    centre : sequence of float
        Brush centre in pixel (row, col) coordinates.
    length, angle : float
        The streak to paint (pixels, degrees).
    radius : float
        Brush radius in pixels; the weight falls smoothly from 1 at the centre to 0 here.

    Returns
    -------
    MotionField
        A new field; pixels at or beyond ``radius`` are unchanged.
    """
    radius = max(float(radius), 1.0)
    (height, width), (row, col) = field.shape, (float(centre[0]), float(centre[1]))
    r0, r1 = max(int(np.floor(row - radius)), 0), min(int(np.ceil(row + radius)) + 1, height)
    c0, c1 = max(int(np.floor(col - radius)), 0), min(int(np.ceil(col + radius)) + 1, width)
    if r0 >= r1 or c0 >= c1:
        return field
    # Only the brush's window is blended: a drag on a 2048^2 field stays interactive.
    window = MotionField(field.length[r0:r1, c0:c1], field.angle[r0:r1, c0:c1])
    part = _blend(window, brush_weight(window.shape, (row - r0, col - c0), radius),
                  length, angle)
    lengths, angles = np.array(field.length), np.array(field.angle)
    lengths[r0:r1, c0:c1], angles[r0:r1, c0:c1] = part.length, part.angle
    return MotionField(lengths, angles)


def set_uniform(field: MotionField, length: float, angle: float, mask=None) -> MotionField:
    """Set (length, angle) everywhere, or only where the boolean ``mask`` (H, W) is true."""
    if mask is None:
        return MotionField.uniform(field.shape, length, angle)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != field.shape:
        raise ValueError(f"mask shape {mask.shape} does not match the field {field.shape}")
    return MotionField(np.where(mask, length, field.length), np.where(mask, angle, field.angle))


def smooth_field(field: MotionField, sigma: float) -> MotionField:
    """Gaussian-smooth a field: lengths directly, orientations as doubled-angle vectors."""
    if sigma <= 0:
        return field
    length = ndimage.gaussian_filter(field.length.astype(np.float64), sigma, mode="nearest")
    # Length-weighted: long streaks dominate the orientation.
    c, s = (ndimage.gaussian_filter(v, sigma, mode="nearest")
            for v in doubled_angle(field.angle, field.length.astype(np.float64)))
    angle = np.where(np.hypot(c, s) > 1e-9, undoubled_angle(c, s), field.angle)
    return MotionField(np.maximum(length, 0), angle)


class EditHistory:
    """A bounded undo stack of fields.

    Parameters
    ----------
    limit : int
        Most states kept; the oldest are dropped.
    """

    def __init__(self, limit: int = 30):
        self.limit = int(limit)
        self._stack: list[MotionField] = []

    def push(self, field: MotionField) -> None:
        """Remember ``field`` (the state before an edit)."""
        self._stack.append(field)
        del self._stack[: max(0, len(self._stack) - self.limit)]

    def pop(self) -> MotionField | None:
        """The most recent state, or ``None`` if there is nothing to undo."""
        return self._stack.pop() if self._stack else None

    def clear(self) -> None:
        """Forget all states."""
        self._stack.clear()

    def __len__(self) -> int:
        return len(self._stack)
