"""Symmetric boundary extension and the overlapping patch grid behind the non-uniform operators.

The image is covered by nodes on a square grid of spacing ``stride``; node ``(i, j)`` owns a
``2 * stride`` square region weighted by a bilinear hat window (the windows sum to 1 at every
pixel), and reads an input patch that extends that region by ``margin`` pixels on every side so
that a filter of radius <= ``margin`` applied by FFT to the patch is exact (no wrap-around) on
the region. This is Hirsch et al.'s efficient filter flow in gather order: the kernel belongs to
the output pixel, and a pixel's kernel is the hat-weighted blend of its 4 nearest nodes' kernels.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def row_bands(count: int, step: int) -> list[tuple[int, int]]:
    """``(first, last)`` ranges of ``step`` rows (the last one shorter) covering ``count``."""
    step = max(1, int(step))
    return [(a, min(a + step, count)) for a in range(0, count, step)]


def symmetric_indices(n: int, before: int, after: int, device=None) -> torch.Tensor:
    """Indices into ``range(n)`` that extend it symmetrically (edge sample repeated).

    Works for any pad size, also larger than ``n`` (the extension is periodic with 2n).
    """
    i = torch.arange(-before, n + after, device=device)
    i = torch.remainder(i, 2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def periodic_indices(n: int, before: int, after: int, device=None) -> torch.Tensor:
    """Indices into ``range(n)`` that extend it periodically (wrap-around)."""
    return torch.remainder(torch.arange(-before, n + after, device=device), n)


def boundary_indices(boundary: str):
    """The index function of a boundary mode: ``"symmetric"`` or ``"periodic"``."""
    try:
        return {"symmetric": symmetric_indices, "periodic": periodic_indices}[boundary]
    except KeyError:
        raise ValueError(f"boundary must be 'symmetric' or 'periodic', got {boundary!r}") from None


def gather_rows_cols(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Gather ``x[..., rows, :][..., cols]`` (a boundary extension, given its indices)."""
    return x.index_select(-2, rows).index_select(-1, cols)


def gather_adjoint(
    x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """Adjoint of :func:`gather_rows_cols`: sum the extension back onto the ``shape`` image."""
    lead = x.shape[:-2]
    out_c = x.new_zeros(*lead, x.shape[-2], shape[1]).index_add_(-1, cols, x)
    return x.new_zeros(*lead, shape[0], shape[1]).index_add_(-2, rows, out_c)


def next_fast_size(n: int) -> int:
    """Smallest multiple of 8 >= n whose other factors are <= 11 (fast for MKL/pocketfft FFTs)."""
    m = max(8, -(-n // 8) * 8)
    while True:
        k = m
        for p in (2, 3, 5, 7, 11):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 8


def centred_spectrum(filters: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """rfft2 of odd-sized filters (..., kh, kw) embedded in ``size`` with their centre at (0, 0)."""
    kh, kw = filters.shape[-2:]
    ch, cw = kh // 2, kw // 2
    if kh > size[0] or kw > size[1]:
        raise ValueError(f"filters of {kh}x{kw} do not fit in {size[0]}x{size[1]}")
    # Tap (i, j) goes to ((i - ch) mod N, (j - cw) mod N): the four quadrants are copied to the
    # corners directly (a padded copy rolled into place costs two more copies of the stack,
    # which IRC-Net pays per chunk of a large image's nodes at every iteration).
    placed = filters.new_zeros(*filters.shape[:-2], size[0], size[1])
    for rows_to, rows_from in ((slice(0, kh - ch), slice(ch, kh)),
                               (slice(size[0] - ch, size[0]), slice(0, ch))):
        for cols_to, cols_from in ((slice(0, kw - cw), slice(cw, kw)),
                                   (slice(size[1] - cw, size[1]), slice(0, cw))):
            placed[..., rows_to, cols_to] = filters[..., rows_from, cols_from]
    return torch.fft.rfft2(placed)


class PatchGrid:
    """Nodes, windows, patch extraction and blending for an (H, W) image.

    Parameters
    ----------
    shape : tuple of int
        Image (H, W).
    stride : int
        Minimum node spacing in pixels (the resolution at which the kernel may vary); it is
        rounded up so that the patch side ``2 * stride + 2 * margin`` is a fast FFT size.
    margin : int
        Extension of each node's patch; must be >= the radius of every filter applied.
    device : torch.device
        Where index tensors and the window live.
    boundary : str
        How the image continues beyond its edges: ``"symmetric"`` (mirrored, the forward model
        of an observed image) or ``"periodic"`` (IRC's extended working domain).
    """

    def __init__(self, shape, stride: int = 64, margin: int = 18, device=None,
                 boundary: str = "symmetric"):
        self.shape = (int(shape[0]), int(shape[1]))
        self.patch_size = n = next_fast_size(2 * int(stride) + 2 * int(margin))
        self.stride = s = (n - 2 * int(margin)) // 2
        self.margin = m = (n - 2 * s) // 2
        self.nodes = tuple(math.ceil((size - 1) / s) + 1 for size in self.shape)
        indices = boundary_indices(boundary)
        # Patch of node k covers pixels [k s - s - m, k s + s + m) of the extended image.
        self._extension = [indices(size, s + m, count * s + m - size, device)
                           for size, count in zip(self.shape, self.nodes)]
        hat = 1.0 - torch.abs(torch.arange(-s, s, device=device, dtype=torch.float32)) / s
        self.window = hat[:, None] * hat[None, :]

    def chunks(self, max_nodes: int = 256):
        """Ranges of node rows with at most ``max_nodes`` nodes (at least one row) each."""
        return row_bands(self.nodes[0], max_nodes // self.nodes[1])

    def patches(self, x: torch.Tensor, rows: tuple[int, int] | None = None) -> torch.Tensor:
        """Input patches (..., r, nc, N, N) of images (..., H, W), for node rows ``rows``.

        A strided view of the extended image (FFTs copy it once, as they must).
        """
        return self.band_patches(
            lambda rows, cols: x.index_select(-2, rows).index_select(-1, cols), rows)

    def band_patches(self, band_of, rows: tuple[int, int] | None = None) -> torch.Tensor:
        """:meth:`patches` of an image made only where they read it: ``band_of(rows, cols)``
        gives its values at those (extended) row and column indices, (..., len(rows),
        len(cols))."""
        first, last = rows or (0, self.nodes[0])
        s, n = self.stride, self.patch_size
        band = band_of(self._extension[0][first * s : (last - 1) * s + n], self._extension[1])
        return band.unfold(-2, n, s).unfold(-2, n, s)

    def patches_adjoint(self, patches: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`patches`: scatter-add patches back onto (..., H, W)."""
        index = self._scatter_index
        lead = patches.shape[:-4]
        flat = patches.reshape(-1, index.numel())
        out = flat.new_zeros(flat.shape[0], self.shape[0] * self.shape[1])
        out.index_add_(1, index, flat)
        return out.reshape(*lead, *self.shape)

    @functools.cached_property
    def _scatter_index(self) -> torch.Tensor:
        # Built on first use only: IRC never needs it (its size is the whole patch stack), the
        # adjoint (NU-CG, tests) reuses it at every call.
        s, n = self.stride, self.patch_size
        starts = [torch.arange(count, device=self.window.device) * s for count in self.nodes]
        offsets = torch.arange(n, device=self.window.device)
        rows, cols = (ext[start[:, None] + offsets[None, :]]
                      for ext, start in zip(self._extension, starts))
        return (rows[:, None, :, None] * self.shape[1] + cols[None, :, None, :]).reshape(-1)

    def spectra(self, x: torch.Tensor, rows: tuple[int, int] | None = None) -> torch.Tensor:
        """rfft2 of the input patches: (..., H, W) -> (..., r, nc, N, N // 2 + 1)."""
        return torch.fft.rfft2(self.patches(x, rows))

    def new_canvas(self, lead, like: torch.Tensor) -> torch.Tensor:
        """Zeros to :meth:`blend_into`; :meth:`crop` turns it into the image."""
        s = self.stride
        return like.new_zeros(*lead, self.nodes[0] + 1, s, self.nodes[1] + 1, s)

    def blend_into(self, canvas: torch.Tensor, patches: torch.Tensor, first_row: int = 0):
        """Window the patches' central regions and overlap-add them into ``canvas`` (in place).

        ``patches`` hold node rows ``first_row, first_row + 1, ...``. Returns ``canvas``.
        """
        s, m = self.stride, self.margin
        r, nc = patches.shape[-4:-2]
        region = patches[..., m : m + 2 * s, m : m + 2 * s] * self.window
        for a in (0, 1):
            for b in (0, 1):
                quadrant = region[..., a * s : (a + 1) * s, b * s : (b + 1) * s]
                canvas[..., first_row + a : first_row + a + r, :, b : b + nc, :] += (
                    quadrant.transpose(-3, -2))
        return canvas

    def crop(self, canvas: torch.Tensor) -> torch.Tensor:
        s = self.stride
        lead = canvas.shape[:-4]
        full = canvas.reshape(*lead, (self.nodes[0] + 1) * s, (self.nodes[1] + 1) * s)
        return full[..., s : s + self.shape[0], s : s + self.shape[1]]

    def blend(self, patches: torch.Tensor) -> torch.Tensor:
        """Window the patches' central regions and overlap-add them (..., nr, nc, N, N) -> image."""
        canvas = self.new_canvas(patches.shape[:-4], patches)
        return self.crop(self.blend_into(canvas, patches))

    def blend_spectra(self, spectra: torch.Tensor) -> torch.Tensor:
        """irfft2 then :meth:`blend`."""
        return self.blend(torch.fft.irfft2(spectra, s=(self.patch_size,) * 2))

    def blend_adjoint(self, image: torch.Tensor) -> torch.Tensor:
        """Adjoint of :meth:`blend`: windowed regions of ``image``, zero-padded to patches."""
        s, m = self.stride, self.margin
        nr, nc = self.nodes
        h, w = self.shape
        lead = image.shape[:-2]
        canvas = F.pad(image, (s, (nc + 1) * s - s - w, s, (nr + 1) * s - s - h))
        canvas = canvas.reshape(*lead, nr + 1, s, nc + 1, s)
        region = image.new_empty(*lead, nr, nc, 2 * s, 2 * s)
        for a in (0, 1):
            for b in (0, 1):
                region[..., a * s : (a + 1) * s, b * s : (b + 1) * s] = canvas[
                    ..., a : a + nr, :, b : b + nc, :].transpose(-3, -2)
        return F.pad(region * self.window, (m, m, m, m))
