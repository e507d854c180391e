"""IRC-Net's node filters: the operators of one deconvolution and their patch spectra.

:class:`Operators` holds the blur and inverse filters of every node (see :mod:`.irc`);
:class:`NodeSpectra` gives their spectra on the patch grid, which the x-update multiplies patch
spectra by. Small grids keep every filter spectrum; large ones recompute the inverse filters'
spectra chunk by chunk of node rows, which bounds the memory of a large image.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..physics.operators import BlendedFilters
from ..physics.patches import PatchGrid, centred_spectrum
from ..physics.reference import PerPixelBlur

__all__ = ["NodeSpectra", "Operators"]


@dataclass
class Operators:
    """The blur ``K`` and inverse filters ``D`` of one deconvolution, as node filters.

    ``blur`` is (nr, nc, k, k) and ``inverse`` (nr, nc, 3, s, s) (``nr = nc = 1``: the same
    filters at every node), as tensors or blended from the bank row by row
    (:class:`~napari_motion_deblur.physics.operators.BlendedFilters`); both act on the image
    extended by ``pad`` pixels per side, with periodic boundaries, through ``grid``.
    """

    grid: PatchGrid
    blur: torch.Tensor | BlendedFilters
    inverse: torch.Tensor | BlendedFilters
    pad: int
    #: When set, the data term's blur ``K x`` is this exact per-pixel operator (on the extended
    #: domain) instead of the node filters, which then only precondition (through ``inverse``).
    exact: PerPixelBlur | None = None


class NodeSpectra:
    """Filter spectra on the patch grid, computed once or per chunk of node rows.

    Small grids keep every spectrum; large ones (beyond ``KEEP_NODES`` nodes) recompute the
    filters' spectra chunk by chunk, and IRC streams their x-update (:mod:`.irc_streamed`),
    which bounds peak memory (~60 bytes per pixel).
    """

    def __init__(self, grid: PatchGrid, ops: Operators, gradient_filters: torch.Tensor):
        self.grid = grid
        self.size = (grid.patch_size, grid.patch_size)
        self.ops = ops
        self.chunks = grid.chunks(_CHUNK_NODES)
        self.g_hat = centred_spectrum(gradient_filters, self.size)
        self._blur = None  # made on first use: the exact data term never asks for it
        #: Whether every filter spectrum is kept (small grids), not recomputed per chunk.
        self.keep = grid.nodes[0] * grid.nodes[1] <= KEEP_NODES or ops.inverse.shape[0] == 1
        #: Whether IRC streams its x-update (:mod:`.irc_streamed`).
        self.streamed = streams(grid.nodes)
        if self.keep:
            # (nr, nc, 3, N, Nf)
            self._inverse = centred_spectrum(_filter_rows(ops.inverse, None), self.size)
            self._coupling = self._couple(self._inverse[..., 1:, :, :])

    def _rows(self, t: torch.Tensor, r) -> torch.Tensor:
        return t if t.shape[0] == 1 else t[r[0] : r[1]]

    def _couple(self, gradient_inverse_hat):
        """``D1 G1 + D2 G2`` from the spectra of inverse-filter channels 1 and 2."""
        return (gradient_inverse_hat[..., 0, :, :] * self.g_hat[0]
                + gradient_inverse_hat[..., 1, :, :] * self.g_hat[1])

    def blur(self, r) -> torch.Tensor:
        if not self.keep:
            return centred_spectrum(_filter_rows(self.ops.blur, r), self.size)
        if self._blur is None:
            self._blur = centred_spectrum(_filter_rows(self.ops.blur, None), self.size)
        return self._rows(self._blur, r)

    def inverse(self, r, channel: int) -> torch.Tensor:
        if self.keep:
            return self._rows(self._inverse, r)[..., channel, :, :]
        return centred_spectrum(_filter_rows(self.ops.inverse, r, channel), self.size)

    def coupling(self, r) -> torch.Tensor:
        if self.keep:
            return self._rows(self._coupling, r)
        # Only the gradient channels: channel 0 is not part of the coupling.
        gradient_inverse = _filter_rows(self.ops.inverse, r, slice(1, None))
        return self._couple(centred_spectrum(gradient_inverse, self.size))

    def of_image(self, image: torch.Tensor) -> torch.Tensor:
        """Patch spectra of an image (B, H, W) -> (B, nr, nc, N, Nf)."""
        if len(self.chunks) == 1:
            return self.grid.spectra(image)
        if torch.is_grad_enabled():
            return torch.cat([self.grid.spectra(image, r) for r in self.chunks], dim=-4)
        out = torch.empty(*image.shape[:-2], *self.grid.nodes, self.size[0], self.size[1] // 2 + 1,
                          dtype=torch.complex64, device=image.device)
        for r in self.chunks:
            out[..., r[0] : r[1], :, :, :] = self.grid.spectra(image, r)
        return out

    def add_scaled(self, total: torch.Tensor, alpha: torch.Tensor, term: torch.Tensor):
        """``total + alpha * term`` for spectra stacks; in place, by chunks, without autograd."""
        if torch.is_grad_enabled():
            return total + alpha[..., None, None] * term
        scale = alpha[..., None, None]
        for a, b in self.chunks:
            total[..., a:b, :, :, :] += scale * term[..., a:b, :, :, :]
        return total

    def apply(self, spectrum_of_rows) -> torch.Tensor:
        """Blend ``irfft2(spectrum_of_rows(r))`` over all chunks ``r`` into an image."""
        canvas = None
        for r in self.chunks:
            patches = torch.fft.irfft2(spectrum_of_rows(r), s=self.size)
            if canvas is None:
                canvas = self.grid.new_canvas(patches.shape[:-4], patches)
            canvas = self.grid.blend_into(canvas, patches, r[0])
        return self.grid.crop(canvas)


def streams(nodes: tuple[int, int]) -> bool:
    """Whether a grid of ``nodes`` is too large to keep the patch spectra of whole images, so
    that IRC streams its x-update (:mod:`.irc_streamed`)."""
    return nodes[0] * nodes[1] > KEEP_NODES


def _filter_rows(filters, r, channels=None) -> torch.Tensor:
    """Node rows ``r`` (all rows: None) of node filters, only ``channels`` of the third axis if
    given; one shared filter (a PSF) serves all rows."""
    first, last = (0, None) if r is None or filters.shape[0] == 1 else r
    if isinstance(filters, BlendedFilters):
        return filters.rows(first, last, channels)
    filters = filters[first:last]
    return filters if channels is None else filters[:, :, channels]


#: Node rows are processed in chunks of about this many nodes (bounds transient memory).
_CHUNK_NODES = 128
#: Up to this many nodes every filter spectrum is kept; beyond, inverse spectra are recomputed.
KEEP_NODES = 400
