"""The motion estimate of a dask image: a lazy field, computed tile by tile where dask runs.

:func:`~napari_motion_deblur.estimate_motion` and
:func:`~napari_motion_deblur.estimate_with_confidence` call :func:`estimate_lazy` for a dask
array. The image is rechunked into the tiles of the in-memory tiled estimate
(:func:`~napari_motion_deblur.tiling.tile_boxes`: corners on Motion-Net's 96-px grid, a
192-px halo) and ``map_overlap`` estimates every tile on its outer box and keeps the inner
one, so the result equals ``estimate_motion(numpy_image, tile=chunk)``. Each task runs the
in-memory estimator (each worker process loads Motion-Net once); nothing is computed until
the caller asks.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_image, check_image_layout, integer_scale, luminance
from ..motion import LazyMotionField
from ..settings import EstimationSettings
from ..tiling import ESTIMATION_HALO, tile_segments

#: Tile side (px) of a lazy estimate when ``settings.tile`` gives none: about the lazy
#: deconvolution's chunk, on Motion-Net's 96-px grid.
LAZY_ESTIMATION_CHUNK = 1056


def estimate_lazy(image, config: EstimationSettings, align: int, caller: str = "estimate_motion"):
    """The lazy estimate of a dask image: ``(LazyMotionField, confidence)``.

    Parameters
    ----------
    image : dask.array.Array, (H, W) or (H, W, C)
        As for :func:`~napari_motion_deblur.estimate_motion`.
    config : EstimationSettings
        An integer ``tile`` is the chunk side (rounded up to ``align``); ``"auto"`` and None
        give :data:`LAZY_ESTIMATION_CHUNK`.
    align : int
        The grid of the tiles' corners (Motion-Net's tile step).

    Returns
    -------
    field : LazyMotionField
    confidence : dask.array.Array
        float32 (H, W) in [0, 1].

    Raises
    ------
    ValueError
        Before anything is computed, for a dtype, layout or size that the in-memory estimate
        refuses, and for negative values of a wide integer type (whose scale needs the data's
        range: one pass over it). Values that only the pixels show (NaN, floats outside
        [0, 1]) raise ``ValueError`` when that tile is computed, as in memory.
    """
    import dask.array as da

    from .api import image_error

    try:
        check_image_layout(image.shape, image.dtype)
        # the in-memory intensity rule (wide integer types: one pass over the data, now)
        scale = integer_scale(image) if np.issubdtype(image.dtype, np.integer) else 1.0
    except ValueError as err:
        raise image_error(caller, err, image.shape) from err
    chunk = int(config.tile) if isinstance(config.tile, int) else LAZY_ESTIMATION_CHUNK
    chunk = -(-max(chunk, 1) // align) * align
    halo = -(-ESTIMATION_HALO // align) * align
    planar = image if image.ndim == 3 else image[..., None]
    rows, cols = (tuple(b - a for a, b in tile_segments(n, chunk, halo))
                  for n in planar.shape[:2])
    planar = planar.rechunk((rows, cols, planar.shape[2]))

    def to_luminance(block):
        values = block.astype(np.float32) / np.float32(scale) if scale != 1.0 else block
        img, _ = as_float_image(values)  # a float tile: NaN and range checked, as in memory
        return np.clip(luminance(img), 0.0, 1.0)

    lum = planar.map_blocks(to_luminance, drop_axis=2, dtype=np.float32,
                            meta=np.empty((0, 0), np.float32))
    # Three output planes (length, angle, confidence) from one luminance: the same array
    # seen three times, so that map_overlap's blocks keep their shape.
    lum3 = da.broadcast_to(lum[..., None], lum.shape + (3,), chunks=(rows, cols, 3))
    block_config = config.replace(tile=None)

    def estimate_tile(block):
        from .api import estimate_with_confidence

        estimate = estimate_with_confidence(np.ascontiguousarray(block[..., 0]),
                                            settings=block_config)
        return np.stack([estimate.field.length, estimate.field.angle, estimate.confidence],
                        axis=-1).astype(np.float32)

    # No halo along an axis of one chunk (map_overlap needs chunks at least the depth).
    depth = {0: halo if len(rows) > 1 else 0, 1: halo if len(cols) > 1 else 0, 2: 0}
    out = da.map_overlap(estimate_tile, lum3, depth=depth, boundary="none", dtype=np.float32,
                         meta=np.empty((0, 0, 0), np.float32))
    return LazyMotionField(out[..., 0], out[..., 1]), out[..., 2]
