"""Linear blur operators: uniform and non-uniform (per-pixel) convolution with their adjoints.

One implementation serves the forward model ``y = k(p) * x`` used by synthesis, by IRC-Net
(both for the blur and, with inverse filters, for the deconvolution step), by the baselines and
by the tests. Boundaries are symmetric (the image is mirrored, edge sample repeated): no
wrap-around, so no ringing from the borders. (IRC works on an extended domain with periodic
boundaries instead; see irc.py.)

Both modules take images ``(B, H, W)`` or multi-channel inputs ``(B, C, H, W)`` whose channels
are filtered by their own filter and summed (``C`` = 1 for a blur; 3 for IRC's inverse filters
of the data and the two gradient residuals).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..motion import MotionField
from .kernels import BANK_RADIUS, bank_kernels, bank_size, interpolation_weights
from .patches import (
    PatchGrid,
    boundary_indices,
    centred_spectrum,
    gather_adjoint,
    gather_rows_cols,
    next_fast_size,
)

#: Node spacing of the non-uniform operators: the scale at which the blur may change.
DEFAULT_STRIDE = 48


def _as_channels(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(1) if x.dim() == 3 else x


class Convolution(nn.Module):
    """Uniform convolution with symmetric boundaries, by FFT of the padded image.

    Parameters
    ----------
    filters : torch.Tensor, shape (C, kh, kw) or (kh, kw)
        Odd-sized filters, centre in the middle; channel c of the input is convolved with
        ``filters[c]`` and the results are summed.
    boundary : str
        ``"symmetric"`` (default) or ``"periodic"``.
    """

    def __init__(self, filters: torch.Tensor, boundary: str = "symmetric"):
        super().__init__()
        self.boundary = boundary
        self._indices = boundary_indices(boundary)
        if filters.dim() == 2:
            filters = filters[None]
        if filters.shape[-1] % 2 == 0 or filters.shape[-2] % 2 == 0:
            raise ValueError("Convolution: filters must have odd height and width.")
        self.register_buffer("filters", filters.float())
        self._cache: dict = {}

    def _plan(self, shape):
        key = (shape, self.filters.device, self.filters.data_ptr(), self.filters._version)
        if self._cache.get("key") != key:
            rh, rw = self.filters.shape[-2] // 2, self.filters.shape[-1] // 2
            size = (next_fast_size(shape[0] + 2 * rh), next_fast_size(shape[1] + 2 * rw))
            dev = self.filters.device
            self._cache = {
                "key": key,
                "size": size,
                "offset": (rh, rw),
                "rows": self._indices(shape[0], rh, size[0] - shape[0] - rh, dev),
                "cols": self._indices(shape[1], rw, size[1] - shape[1] - rw, dev),
                "spectrum": centred_spectrum(self.filters, size),
            }
        return self._cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the convolution: (B, H, W) or (B, C, H, W) -> (B, H, W)."""
        x = _as_channels(x)
        plan = self._plan(tuple(x.shape[-2:]))
        spec = torch.fft.rfft2(gather_rows_cols(x, plan["rows"], plan["cols"]))
        out = torch.fft.irfft2((spec * plan["spectrum"]).sum(1), s=plan["size"])
        (rh, rw), (h, w) = plan["offset"], x.shape[-2:]
        return out[..., rh : rh + h, rw : rw + w]

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint: (B, H, W) -> (B, C, H, W)."""
        shape = tuple(y.shape[-2:])
        plan = self._plan(shape)
        (rh, rw), size = plan["offset"], plan["size"]
        canvas = y.new_zeros(y.shape[0], *size)
        canvas[:, rh : rh + shape[0], rw : rw + shape[1]] = y
        spec = torch.fft.rfft2(canvas)[:, None] * plan["spectrum"].conj()
        return gather_adjoint(torch.fft.irfft2(spec, s=size), plan["rows"], plan["cols"],
                                     shape)


class SpaceVaryingConvolution(nn.Module):
    """Convolution whose filters vary across the image (efficient filter flow, gather order).

    Each node of a :class:`PatchGrid` has its own filters; a pixel's output is the hat-weighted
    blend of its 4 nearest nodes' filters applied to the input. With the same filters at every
    node this is exactly :class:`Convolution`.

    Parameters
    ----------
    grid : PatchGrid
        The node grid; its margin must exceed the filters' radius.
    node_filters : torch.Tensor, shape (nr, nc, C, k, k)
        Odd-sized filters per node and input channel; nr = nc = 1 broadcasts one set of
        filters to every node (a uniform convolution computed patch-wise).
    """

    def __init__(self, grid: PatchGrid, node_filters: torch.Tensor):
        super().__init__()
        k = node_filters.shape[-1]
        if k // 2 >= grid.margin:
            raise ValueError(f"filter radius {k // 2} must be below the grid margin {grid.margin}")
        self.grid = grid
        n = grid.patch_size
        # (C, nr, nc, N, N // 2 + 1): channels first so patches broadcast without a permute.
        self.spectra = centred_spectrum(node_filters.movedim(2, 0), (n, n))

    @property
    def channels(self) -> int:
        return self.spectra.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply: (B, H, W) or (B, C, H, W) -> (B, H, W)."""
        spec = self.grid.spectra(_as_channels(x)) * self.spectra
        return self.grid.blend_spectra(spec.sum(1))

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """Adjoint: (B, H, W) -> (B, C, H, W)."""
        grid = self.grid
        spec = torch.fft.rfft2(grid.blend_adjoint(y))[:, None] * self.spectra.conj()
        return grid.patches_adjoint(torch.fft.irfft2(spec, s=(grid.patch_size,) * 2))


def node_motion(field: MotionField, grid: PatchGrid, device=None):
    """Each node's motion: the hat-window average of its pixels' streaks, (nr, nc) length, angle.

    Angles are averaged as doubled-angle vectors weighted by the streak travel ``l - 1`` (a
    streak has no sign, and still pixels carry no direction). The field is read on a sub-grid
    (every ``stride // 16`` pixels), which changes a window average negligibly and bounds the
    cost on large images.
    """
    step = max(1, grid.stride // 16)
    length = torch.tensor(field.length[::step, ::step], device=device).clamp_min(1.0)
    theta = torch.deg2rad(torch.tensor(field.angle[::step, ::step], device=device)) * 2
    travel = length - 1.0
    values = torch.stack([length, travel * torch.cos(theta), travel * torch.sin(theta),
                          torch.ones_like(length)], -1)  # (h, w, 4)
    nr, nc = grid.nodes
    s = grid.stride
    rows = torch.arange(0, field.shape[0], step, device=device, dtype=torch.float32) / s
    cols = torch.arange(0, field.shape[1], step, device=device, dtype=torch.float32) / s
    r0, c0 = rows.floor(), cols.floor()
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    r0, c0 = r0.long()[:, None], c0.long()[None, :]
    sums = torch.zeros(nr * nc, 4, device=device)
    for dr, wr in ((0, 1 - fr), (1, fr)):
        for dc, wc in ((0, 1 - fc), (1, fc)):
            node = (r0 + dr).clamp(max=nr - 1) * nc + (c0 + dc).clamp(max=nc - 1)  # (h, w)
            sums.index_add_(0, node.reshape(-1), ((wr * wc)[..., None] * values).reshape(-1, 4))
    sums = sums / sums[:, 3:].clamp_min(1e-12)
    angle = torch.rad2deg(torch.atan2(sums[:, 2], sums[:, 1]) / 2)
    return sums[:, 0].reshape(nr, nc), torch.remainder(angle, 180.0).reshape(nr, nc)


def node_mixture(field: MotionField, grid: PatchGrid, device=None) -> torch.Tensor:
    """Weights of the 511 bank kernels at each node, (nr, nc, 511), rows summing to 1.

    A node takes its averaged motion (:func:`node_motion`) and the 4 bracketing bank kernels of
    Eq. 17. Blending only neighbouring bank kernels keeps each node's inverse filters (blended
    with the same weights) a good inverse of its kernel; averaging the bank weights of all the
    pixels under a window would mix unrelated kernels across motion boundaries and break that.
    """
    length, angle = node_motion(field, grid, device)
    indices, weights = interpolation_weights(length, angle)  # (nr, nc, 4)
    mixture = torch.zeros(*length.shape, bank_size(), device=device)
    return mixture.scatter_add_(-1, indices, weights)


def mix_bank(mixture: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Blend bank filters (511, ...) by node weights (nr, nc, 511) -> (nr, nc, ...).

    Only the bank entries some node uses enter the product.
    """
    used = torch.nonzero(mixture.reshape(-1, mixture.shape[-1]).sum(0) > 0).squeeze(1)
    flat = bank.index_select(0, used).reshape(len(used), -1)
    out = mixture.index_select(-1, used).reshape(-1, len(used)) @ flat
    return out.reshape(*mixture.shape[:2], *bank.shape[1:])


class BlendedFilters:
    """Node filters blended from a bank on demand, (nr, nc, ...) without holding them all.

    Each node blends its 4 bracketing bank filters (``indices``, ``weights``: (nr, nc, 4), from
    :func:`~napari_motion_deblur.physics.kernels.interpolation_weights`); :meth:`rows` gives
    those of a range of node rows. A large image's inverse filters would take ~8 bytes per
    pixel if all were kept.
    """

    def __init__(self, indices: torch.Tensor, weights: torch.Tensor, bank: torch.Tensor):
        self.indices, self.weights, self.bank = indices, weights, bank
        self.shape = (*indices.shape[:2], *bank.shape[1:])

    def rows(self, first: int = 0, last: int | None = None, channels=None) -> torch.Tensor:
        """The filters of node rows ``first:last``: (rows, nc, ...); ``channels`` (an index or
        slice of the bank's second axis) blends only those."""
        bank = self.bank if channels is None else self.bank[:, channels]
        indices, weights = self.indices[first:last], self.weights[first:last]
        picked = bank[indices].flatten(3)  # (rows, nc, 4, filter values)
        blended = (picked * weights[..., None]).sum(2)
        return blended.reshape(*indices.shape[:2], *bank.shape[1:])


def node_filters(field: MotionField, grid: PatchGrid, banks, device=None):
    """:class:`BlendedFilters` of each bank in ``banks`` at the nodes of ``grid`` (the bank
    kernels of Eq. 17 around each node's averaged motion, as :func:`node_mixture` weighs them)."""
    length, angle = node_motion(field, grid, device)
    indices, weights = interpolation_weights(length, angle)
    return [BlendedFilters(indices, weights, bank) for bank in banks]


class NonUniformBlur(SpaceVaryingConvolution):
    """The non-uniform blur ``y = k(p) * x`` of a :class:`MotionField` (the forward model).

    Parameters
    ----------
    field : MotionField
        Per-pixel motion; lengths beyond 35 px are clipped with a warning.
    stride : int
        Node spacing (pixels) at which the kernel may vary.
    device : torch.device or str
        Where to compute.
    boundary : str
        ``"symmetric"`` (default) or ``"periodic"``.
    """

    def __init__(self, field: MotionField, stride: int = DEFAULT_STRIDE, device="cpu",
                 boundary: str = "symmetric"):
        field = field.clipped()
        grid = PatchGrid(field.shape, stride, BANK_RADIUS + 1, device, boundary)
        mixture = node_mixture(field, grid, device)
        kernels = mix_bank(mixture, bank_kernels(device))[:, :, None]
        super().__init__(grid, kernels)
        self.mixture = mixture
