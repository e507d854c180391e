"""Overlapping tiles with halos: large images in bounded memory.

A tile is deblurred (or estimated) on its *outer* box, the tile grown by a halo on every side,
and only its *inner* box is kept. The halo must cover what reaches a pixel from outside its
tile. For IRC-Net that is far, for two reasons: each of its 5 x 2 iterations spreads the
residual by the blur and inverse-filter radii (~37 px, ~380 px in all), and the step of each
iteration is an exact line search, a sum over the whole image, which a tile takes over its own
box. A 204-px halo therefore leaves differences to the whole-image result (mean 6e-4 on
[0, 1] with 153-px tiles, up to a few 1e-2; ``tests/test_tiling.py``), and wider ones do not
remove them while a tile's cost grows with its halo (``benchmarks/tile_halo.py``: worst
0.033-0.037 for halos of 240-672 px). For the estimate, a
Motion-Net tile (128 px) and the cepstral check's patches with their neighbour averaging: with
192 px the tiled estimate equals the whole-image one. Tile corners sit on a common ``align`` grid
(IRC-Net's node spacing, Motion-Net's tile step) so that every tile sees the node grid of the
whole image.

:func:`tile_boxes` makes the boxes; :func:`auto_tile` picks a tile size from a memory budget, and
:func:`deconvolution_tile` the one a deconvolution uses (IRC-Net costs ~60 bytes per pixel on a
large image, whose x-update it streams, and ~360 on a small one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Bytes IRC-Net needs per pixel and colour channel on a large image, where it streams its
#: x-update (:mod:`~napari_motion_deblur.solvers.irc_streamed`): the growth of peak RSS from
#: 2048^2 to 4096^2 uint16 gray is 60 (``benchmarks/scale.py``; the caller's image and field
#: included). Images of at most 400 nodes (~1000^2 px) keep their patch spectra instead:
#: :data:`DECONVOLUTION_KEPT_BYTES_PER_PIXEL`.
DECONVOLUTION_BYTES_PER_PIXEL = 60
#: The same for small images, whose patch spectra are kept (measured on 2048^2 gray before the
#: streamed x-update: 353, and 1024^2 RGB: 398 with fixed costs; channels run in lockstep).
DECONVOLUTION_KEPT_BYTES_PER_PIXEL = 360
#: The same for the motion estimate (Motion-Net tiles and the cepstral check): issue 9
#: measured 2.55 GB for a 4096^2 image, 152 bytes per pixel.
ESTIMATION_BYTES_PER_PIXEL = 160
#: Bytes per pixel (and colour channel) that a tiled call still holds for the whole image:
#: IRC-Net's result and one more float image (a stage's snapshot for live display, or the
#: input the refiner reads; the input itself is read tile by tile); the estimate's luminance,
#: length, angle and confidence. The budget pays for them before it pays for a tile.
DECONVOLUTION_WHOLE_BYTES_PER_PIXEL = 8
ESTIMATION_WHOLE_BYTES_PER_PIXEL = 16
#: Default memory budget of one call (bytes): larger images are tiled. Tiles cost time (their
#: halos are computed twice) and a tiled deconvolution is not exact; at 1.5 GB IRC-Net still
#: deblurs gray images up to ~5000^2 whole (and RGB 4096^2 whole, channel by channel), and
#: Motion-Net estimates up to ~3000^2 whole (larger ones in tiles equal to the whole, but for
#: the camera model, fitted per tile). Raise it on a large machine.
DEFAULT_MEMORY_BUDGET = 1.5e9
#: Halo (px) around each tile: see the module docstring.
DECONVOLUTION_HALO = 204
ESTIMATION_HALO = 192
#: Smallest tile side accepted.
MIN_TILE = 128


@dataclass(frozen=True)
class TileBox:
    """One tile: ``outer`` (rows, cols) slices of the image that are processed, ``inner``
    slices of that result that are kept, and ``target`` slices of the image they fill."""

    outer: tuple[slice, slice]
    inner: tuple[slice, slice]
    target: tuple[slice, slice]


def _round_up(value: int, step: int) -> int:
    return int(math.ceil(value / step) * step)


def tile_segments(size: int, tile: int, halo: int = 0) -> list[tuple[int, int]]:
    """``(start, stop)`` of the tiles along one axis: ``tile`` px each, except that a last
    piece shorter than ``halo`` joins the tile before it (computing a sliver with a full halo
    wastes work, and ``dask``'s ``map_overlap`` needs every chunk to be at least its depth)."""
    starts = list(range(0, size, tile))
    if len(starts) > 1 and size - starts[-1] < halo:
        starts.pop()
    return [(a, b) for a, b in zip(starts, starts[1:] + [size])]


def tile_boxes(shape, tile: int, halo: int, align: int = 1) -> list[TileBox]:
    """Overlapping boxes covering an (H, W) image with ``tile``-px tiles and ``halo``-px halos.

    ``tile`` and ``halo`` are rounded up to multiples of ``align``, so that every outer box
    starts on that grid (or at the image edge); see :func:`tile_segments` for the last tile.
    """
    tile, halo = _round_up(max(int(tile), 1), align), _round_up(max(int(halo), 0), align)
    boxes = []
    for r, r1 in tile_segments(shape[0], tile, halo):
        for c, c1 in tile_segments(shape[1], tile, halo):
            orow = (max(r - halo, 0), min(r1 + halo, shape[0]))
            ocol = (max(c - halo, 0), min(c1 + halo, shape[1]))
            boxes.append(TileBox(
                outer=(slice(*orow), slice(*ocol)),
                inner=(slice(r - orow[0], r1 - orow[0]), slice(c - ocol[0], c1 - ocol[0])),
                target=(slice(r, r1), slice(c, c1))))
    return boxes


def auto_tile(shape, channels: int, bytes_per_pixel: float, halo: int,
              budget: float = DEFAULT_MEMORY_BUDGET, align: int = 1,
              whole_bytes_per_pixel: float = 0.0) -> int | None:
    """The tile side that keeps one call under ``budget`` bytes, or None when no tiling is
    needed (the whole image fits, with what it holds besides).

    A call holds ``whole_bytes_per_pixel`` (per channel) for the whole image besides the work
    of the image or of one tile; a tile gets what the budget leaves after that.

    Raises
    ------
    ValueError
        When even the smallest tile (:data:`MIN_TILE`) would exceed the budget.
    """
    per_pixel = bytes_per_pixel * max(int(channels), 1)
    whole = shape[0] * shape[1] * whole_bytes_per_pixel * max(int(channels), 1)
    if shape[0] * shape[1] * per_pixel + whole <= budget:
        return None
    largest = int(math.sqrt(max(budget - whole, 0.0) / per_pixel)) - 2 * halo
    largest = (largest // align) * align
    if largest < MIN_TILE:
        held = f" after the {whole:.3g} bytes the whole image holds" if whole else ""
        raise ValueError(f"memory_budget {budget:.3g} bytes is too small to process even "
                         f"{MIN_TILE}-px tiles{held}; raise it (default "
                         f"{DEFAULT_MEMORY_BUDGET:.3g})")
    # As few tiles as fit, of equal size: the least halo area to compute twice.
    count = math.ceil(max(shape[0], shape[1]) / largest)
    return min(largest, _round_up(math.ceil(max(shape[0], shape[1]) / count), align))


def deconvolution_tile(config, shape, net) -> int | None:
    """The tile side a deconvolution with ``config`` (a
    :class:`~napari_motion_deblur.settings.DeconvolutionSettings`) uses on an image of ``shape``
    (H, W, C) with IRC-Net ``net`` (a multiple of its node spacing), or None: no tiles."""
    if config.tile is None:
        return None
    if config.tile == "auto":
        return budget_tile(config, shape, net, config.memory_budget)
    return None if max(shape[:2]) <= config.tile else int(config.tile)


def budget_tile(config, shape, net, budget: float) -> int | None:
    """The tile side that keeps IRC-Net under ``budget`` bytes, or None: the image fits.

    A whole colour image runs its channels in lockstep; tiles run them one after the other
    (``deconvolution._tiled_stages``), so a tile needs one channel's work, next to the whole
    image's arrays for every channel. An image that does not fit whole but whose single channels do
    becomes one tile. Small images (and tiles) keep their patch spectra, which costs more per
    pixel than the streamed x-update of large ones (``IRCNet.streams``).
    """
    channels = 1 if config.colour == "luminance" else shape[-1]
    rate = _irc_bytes_per_pixel(net, shape[:2])
    if shape[0] * shape[1] * rate * channels <= budget:
        return None
    align = net.node_spacing()
    whole = DECONVOLUTION_WHOLE_BYTES_PER_PIXEL * shape[-1]
    side = auto_tile(shape, 1, rate, DECONVOLUTION_HALO, budget, align, whole)
    outer = None if side is None else (side + 2 * DECONVOLUTION_HALO,) * 2
    if outer is not None and rate != _irc_bytes_per_pixel(net, outer):
        side = auto_tile(shape, 1, DECONVOLUTION_KEPT_BYTES_PER_PIXEL, DECONVOLUTION_HALO,
                         budget, align, whole)
    return side if side is not None else -(-max(shape[:2]) // align) * align


def _irc_bytes_per_pixel(net, shape) -> int:
    """IRC-Net's memory per pixel and channel on an (H, W) image (or tile)."""
    return (DECONVOLUTION_BYTES_PER_PIXEL if net.streams(shape)
            else DECONVOLUTION_KEPT_BYTES_PER_PIXEL)
