"""The dask path of :func:`~napari_motion_deblur.deconvolution.deconvolve`: a lazy result built
with ``map_overlap`` over the in-memory tiles, to compute where the caller likes (threads, or a
``dask.distributed`` cluster)."""

from __future__ import annotations

import numpy as np

from ._validation import check_image_layout, check_motion_or_psf, integer_scale
from .motion import LazyMotionField, MotionField
from .settings import DeconvolutionSettings
from .solvers.irc import node_spacing
from .tiling import DECONVOLUTION_HALO, tile_segments

#: Chunk side of a lazy deconvolution when ``tile`` gives none (20 node spacings).
LAZY_CHUNK = 1020


def deconvolve_lazy(image, motion_or_psf, config: DeconvolutionSettings):
    """:func:`deconvolve` of a dask array: ``map_overlap`` over chunks of ``config.tile`` px
    (default :data:`LAZY_CHUNK`; at least the 204-px halo, as ``map_overlap`` needs) with the
    tiles' halo, each chunk deconvolved in memory.

    The chunks are the tiles of :func:`~napari_motion_deblur.tiling.tile_boxes`, so the result
    equals ``deconvolve(numpy_image, ..., tile=chunk)``. What needs the whole image is settled
    here, before anything is computed: the integer scale of a wide integer type (one pass
    over the data), an ``"auto"`` TV weight, measured on the central chunk, and (with
    ``refine``) whether the input went through JPEG, on the central window.
    """
    import dask.array as da

    # here, not at the top: deconvolution imports this module where a dask array comes in
    from .deconvolution import deconvolve, regularization_weight
    from .physics.compression import looks_jpeg_compressed
    from .physics.srgb import srgb_to_linear

    check_image_layout(image.shape, image.dtype)
    target = check_motion_or_psf(motion_or_psf, image.shape[:2], lazy=True)
    align = node_spacing()  # the shared model's; the workers build their own
    chunk = int(config.tile) if isinstance(config.tile, int) else LAZY_CHUNK
    chunk = max(-(-chunk // align) * align, DECONVOLUTION_HALO)
    planar = image if image.ndim == 3 else image[..., None]
    rows, cols = (tuple(b - a for a, b in tile_segments(n, chunk, DECONVOLUTION_HALO))
                  for n in planar.shape[:2])
    planar = planar.rechunk((rows, cols, planar.shape[2]))
    # the in-memory rule, negatives refused now (wide integer types: one pass over the data)
    scale = integer_scale(planar) if np.issubdtype(planar.dtype, np.integer) else 1.0
    regularization = config.regularization
    if regularization == "auto":
        r, c = (planar.shape[0] - chunk) // 2, (planar.shape[1] - chunk) // 2
        centre = np.asarray(planar[max(r, 0):max(r, 0) + chunk, max(c, 0):max(c, 0) + chunk])
        centre = centre[..., :3].astype(np.float32) / np.float32(scale)
        if config.linear_light:  # measured where the deconvolution works
            centre = srgb_to_linear(centre)
        regularization = regularization_weight(config, centre)
    jpeg_input = config.jpeg_input
    if config.refine and not config.linear_light and jpeg_input is None:
        # the refiner's choice, as in memory: on the whole image's central window (the chunks
        # would each decide on their own)
        jpeg_input = looks_jpeg_compressed(planar[..., :3].astype(np.float32)
                                           / np.float32(scale))
    block_settings = config.replace(tile=None, regularization=regularization,
                                    jpeg_input=jpeg_input)
    is_field = isinstance(target, MotionField)
    motion = None
    if isinstance(target, LazyMotionField):  # an estimate of this image: stays lazy
        motion = da.stack([target.length, target.angle], axis=-1).rechunk((rows, cols, 2))
    elif is_field:
        motion = da.from_array(np.stack([target.length, target.angle], axis=-1),
                               chunks=(rows, cols, 2))
    depth = {0: DECONVOLUTION_HALO, 1: DECONVOLUTION_HALO, 2: 0}

    def run(block, motion_block=None):
        values = block.astype(np.float32) / np.float32(scale) if scale != 1.0 else block
        blur_here = (MotionField(motion_block[..., 0], motion_block[..., 1]) if is_field
                     else target)
        # model=None: each worker process builds (or reuses) its own, from the disk cache
        out = deconvolve(values, blur_here, settings=block_settings)
        return out.reshape(block.shape).astype(np.float32)

    arrays = (planar, motion) if is_field else (planar,)
    result = da.map_overlap(run, *arrays, depth=depth, boundary="none", dtype=np.float32,
                            align_arrays=False)
    return result if image.ndim == 3 else result[..., 0]
