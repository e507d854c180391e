"""The exact per-pixel blur: a reference operator, independent of the node-based EFF code.

Pixel ``p`` of the blurred image is the time average of the sharp image along ``p``'s own
trajectory (gather order: the kernel belongs to the output pixel)::

    y(p) = integral over t in [0, 1] of x(p + d_p(t)) dt

A trajectory is a polyline in time: ``S >= 2`` displacements per pixel at equally spaced
times. Linear motion (the project's model: a streak of length ``l`` at angle ``a`` moves the
point ``l - 1`` px along ``(row, col) = (-sin a, cos a)``, centred on ``p``) is the two-point
path ``-+ (l - 1) / 2 * u``; camera shake with curved paths (see
:mod:`~napari_motion_deblur.physics.degradation`) has more points. The integral is a trapezoid
rule over :data:`SAMPLES_PER_PIXEL` samples per pixel of the longest path, each read with
bilinear interpolation.

Boundary: sample positions outside the image are clamped to its edge (the edge pixel repeats).
Benchmarks blur a larger crop and then cut the border, so that no method knows the exterior.

The operator is a sparse matrix (built on first use, rows in chunks to bound memory), so its
adjoint is exact: the transpose. :meth:`ReferenceBlur.__call__` gives the same numbers without
building the matrix (one bilinear gather per sample), which is what synthesis uses.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse

from ..motion import MotionField
from .patches import row_bands

#: Trapezoid samples per pixel of path length (bilinear reads: 4 are within ~1e-3 of the limit).
SAMPLES_PER_PIXEL = 4
#: Matrix entries built at once (before duplicates are summed) while assembling rows.
_CHUNK_ENTRIES = 8_000_000
#: Values :class:`PerPixelBlur` gathers at once (samples x pixels): ~8 MB of float32 (bands this
#: small were also faster than 4x larger ones on the CPU, which caches them).
_CHUNK_VALUES = 2_000_000
#: :class:`PerPixelBlur` keeps its sample grids when they take at most this many bytes
#: (a 512^2 image with 35-px streaks: ~75 MB).
_GRID_CACHE_BYTES = 128 * 2**20


def linear_path(field: MotionField) -> np.ndarray:
    """The two-point path ``(2, 2, H, W)`` (time, row/col, H, W) of a linear motion field."""
    travel = np.maximum(field.length.astype(np.float64) - 1.0, 0.0) / 2.0
    theta = np.radians(field.angle.astype(np.float64))
    half = np.stack([-np.sin(theta) * travel, np.cos(theta) * travel])
    return np.stack([-half, half])


def _check_path(path) -> np.ndarray:
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 4 or path.shape[0] < 2 or path.shape[1] != 2:
        raise ValueError("a path must be (S >= 2, 2, H, W): S displacements (row, col) per "
                         f"pixel at equally spaced times, got shape {path.shape}")
    if not np.isfinite(path).all():
        raise ValueError("a path must be finite")
    return path


class ReferenceBlur:
    """Exact per-pixel blur along each pixel's own trajectory (see the module notes).

    Parameters
    ----------
    motion : MotionField or array_like (S, 2, H, W)
        A linear motion field, or per-pixel polylines (displacements in px).
    samples_per_pixel : int
        Trapezoid samples per pixel of the longest path.
    """

    def __init__(self, motion, samples_per_pixel: int = SAMPLES_PER_PIXEL):
        path = linear_path(motion) if isinstance(motion, MotionField) else _check_path(motion)
        self.path = path
        self.shape = path.shape[2:]
        segments = np.hypot(*np.diff(path, axis=0).transpose(1, 0, 2, 3))  # (S-1, H, W)
        longest = float(segments.sum(0).max()) if segments.size else 0.0
        n = max(2, int(np.ceil(longest * samples_per_pixel)) + 1)
        t = np.linspace(0.0, path.shape[0] - 1.0, n)
        weights = np.full(n, 1.0 / (n - 1))
        weights[[0, -1]] *= 0.5
        self._times, self._weights = t, weights
        self._matrix: sparse.csr_matrix | None = None

    def _positions(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Absolute (row, col) of every pixel's sample at path time ``t`` (clamped)."""
        k = min(int(np.floor(t)), self.path.shape[0] - 2)
        frac = t - k
        d = (1.0 - frac) * self.path[k] + frac * self.path[k + 1]
        h, w = self.shape
        rows = np.clip(np.arange(h)[:, None] + d[0], 0, h - 1)
        cols = np.clip(np.arange(w)[None] + d[1], 0, w - 1)
        return rows, cols

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Blur an (H, W) or (H, W, C) float image without building the matrix."""
        img = np.asarray(image, dtype=np.float32)
        if img.shape[:2] != tuple(self.shape):
            raise ValueError(f"image shape {img.shape[:2]} differs from the operator's "
                             f"{tuple(self.shape)}")
        planes = img[None, None] if img.ndim == 2 else np.moveaxis(img, -1, 0)[:, None]
        x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
        h, w = self.shape
        out = torch.zeros_like(x)
        for t, weight in zip(self._times, self._weights):
            rows, cols = self._positions(t)
            # grid_sample with align_corners=True maps -1..1 onto pixel centres 0..n-1.
            grid = np.stack([2.0 * cols / max(w - 1, 1) - 1.0, 2.0 * rows / max(h - 1, 1) - 1.0],
                            axis=-1)
            grid_t = torch.from_numpy(grid.astype(np.float32))[None].expand(x.shape[0], -1, -1, -1)
            out += weight * F.grid_sample(x, grid_t, mode="bilinear", padding_mode="border",
                                          align_corners=True)
        result = out[:, 0].numpy().astype(np.float32)
        return result[0] if img.ndim == 2 else np.moveaxis(result, 0, -1)

    @property
    def matrix(self) -> sparse.csr_matrix:
        """The (H*W, H*W) sparse matrix of the blur (row-major pixels), built on first use."""
        if self._matrix is None:
            self._matrix = self._build()
        return self._matrix

    def _build(self) -> sparse.csr_matrix:
        h, w = self.shape
        size = h * w
        per_pixel = 4 * len(self._times)
        step = max(1, _CHUNK_ENTRIES // per_pixel)
        positions = [self._positions(t) for t in self._times]
        blocks = []
        for start in range(0, size, step):
            stop = min(size, start + step)
            rows_all, cols_all, vals_all = [], [], []
            local = np.arange(stop - start)
            for (rows, cols), weight in zip(positions, self._weights):
                r = rows.ravel()[start:stop]
                c = cols.ravel()[start:stop]
                r0 = np.minimum(np.floor(r), h - 2 if h > 1 else 0).astype(np.int64)
                c0 = np.minimum(np.floor(c), w - 2 if w > 1 else 0).astype(np.int64)
                fr, fc = r - r0, c - c0
                for dr, wr in ((0, 1.0 - fr), (1, fr)):
                    for dc, wc in ((0, 1.0 - fc), (1, fc)):
                        rr = np.minimum(r0 + dr, h - 1)
                        cc = np.minimum(c0 + dc, w - 1)
                        rows_all.append(local)
                        cols_all.append(rr * w + cc)
                        vals_all.append(weight * wr * wc)
            block = sparse.csr_matrix(
                (np.concatenate(vals_all), (np.concatenate(rows_all), np.concatenate(cols_all))),
                shape=(stop - start, size))
            block.sum_duplicates()
            block.eliminate_zeros()
            blocks.append(block)
        return sparse.vstack(blocks, format="csr")

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``K x`` for an (H, W) image, by the matrix."""
        return (self.matrix @ np.asarray(x, np.float64).ravel()).reshape(self.shape)

    def adjoint(self, y: np.ndarray) -> np.ndarray:
        """``K^T y`` for an (H, W) image, by the matrix."""
        return (self.matrix.T @ np.asarray(y, np.float64).ravel()).reshape(self.shape)


class MatrixBlur(torch.nn.Module):
    """:class:`ReferenceBlur`'s sparse matrix as a torch operator, with its exact adjoint (the
    transpose): the exact operator NU-CG solves with
    (:func:`~napari_motion_deblur.solvers.baselines.admm_tv_cg`).

    Both directions take ``(B, H, W)`` or ``(B, 1, H, W)`` and return ``(B, 1, H, W)``, the
    batch holding planes (e.g. colour channels) blurred alike.
    """

    def __init__(self, reference: ReferenceBlur, device="cpu"):
        super().__init__()
        self.shape = tuple(reference.shape)
        matrix = reference.matrix.astype(np.float32)
        self._forward = _torch_csr(matrix, device)
        self._transpose = _torch_csr(matrix.T.tocsr(), device)

    def _multiply(self, matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        h, w = self.shape
        if tuple(x.shape[-2:]) != (h, w):
            raise ValueError(f"image shape {tuple(x.shape[-2:])} differs from the operator's "
                             f"{(h, w)}")
        planes = x.reshape(-1, h * w).to(torch.float32)
        return (matrix @ planes.T).T.reshape(-1, 1, h, w).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``K x``."""
        return self._multiply(self._forward, x)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``K^T y``."""
        return self._multiply(self._transpose, y)


def _torch_csr(matrix: sparse.csr_matrix, device) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": matmul is all we use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(torch.from_numpy(matrix.indptr.astype(np.int64)),
                                       torch.from_numpy(matrix.indices.astype(np.int64)),
                                       torch.from_numpy(matrix.data), size=matrix.shape,
                                       device=device, check_invariants=False)


class PerPixelBlur(torch.nn.Module):
    """The exact per-pixel linear-motion blur as a fast torch operator, with its adjoint.

    The same model as :class:`ReferenceBlur` (gather order, edge clamping) with fewer samples:
    ``samples_per_pixel`` bilinear reads per pixel of the longest streak, gathered by
    ``grid_sample`` in bands of output rows (each band reads its rows plus the streaks' reach),
    so that the transient memory stays bounded on large images. IRC-Net can use it as its data
    term (``exact=True``), with the bank's inverse filters as the preconditioner.

    Parameters
    ----------
    field : MotionField
        Per-pixel linear motion of the image the operator acts on.
    samples_per_pixel : float
        Trapezoid samples per pixel of streak (1 is within ~1e-3 of the reference on photos).
    device : torch device
    pad : int
        The operator acts on the image extended by ``pad`` px per side, where the motion is
        that of the nearest edge pixel (IRC-Net's working domain). The streaks are made band
        by band from ``field`` itself, which the operator reads without a copy on the CPU.
    """

    def __init__(self, field: MotionField, samples_per_pixel: float = 1.0, device="cpu",
                 pad: int = 0):
        super().__init__()
        with warnings.catch_warnings():  # the field's arrays are read-only: only read here
            warnings.simplefilter("ignore", UserWarning)
            self.register_buffer("length", torch.from_numpy(field.length).to(device))
            self.register_buffer("angle", torch.from_numpy(field.angle).to(device))
        self.pad = int(pad)
        h, w = field.shape[0] + 2 * self.pad, field.shape[1] + 2 * self.pad
        self.shape = (h, w)
        longest, rows = 0.0, 0.0  # the longest streak and its largest extent along the rows
        for a, b in row_bands(field.shape[0], _CHUNK_VALUES // field.shape[1]):
            half = self._half(self.length[a:b], self.angle[a:b])
            longest = max(longest, 2.0 * float(torch.hypot(half[..., 0], half[..., 1]).max()))
            rows = max(rows, float(half[..., 1].abs().max()))
        n = max(2, int(np.ceil(longest * samples_per_pixel)) + 1)
        weights = torch.full((n,), 1.0 / (n - 1))
        weights[[0, -1]] *= 0.5
        #: Rows a streak reaches beyond its own (a band reads this many more on each side).
        self.reach = int(np.ceil(rows)) + 1
        self.register_buffer("times", torch.linspace(-1.0, 1.0, n).to(device))
        self.register_buffer("weights", weights.to(device))
        #: Output rows per band: all samples of a band hold ~_CHUNK_VALUES floats.
        self.band = max(1, _CHUNK_VALUES // (n * w))
        #: The sample grids, kept after the first call when they fit in _GRID_CACHE_BYTES
        #: (IRC-Net applies the operator 11 times per deconvolution; building the grids was
        #: about as costly as sampling them), keyed by dtype and device.
        self._grids: dict = {}
        self._grid_values = n * h * w * 2

    @staticmethod
    def _half(length: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """Half streaks (..., 2) in grid_sample's order (column, row): ``+D/2`` of
        :func:`linear_path`, in float32."""
        travel = (length.float() - 1.0).clamp_(min=0.0).mul_(0.5)
        theta = torch.deg2rad(angle.float())
        return torch.stack([torch.cos(theta) * travel, -torch.sin(theta) * travel], dim=-1)

    def _streak(self, first: int, last: int) -> torch.Tensor:
        """Half streaks (rows, W, 2) of rows ``first:last`` of the extended image."""
        h, w = self.length.shape
        device = self.length.device
        rows = (torch.arange(first, last, device=device) - self.pad).clamp_(0, h - 1)
        cols = (torch.arange(self.shape[1], device=device) - self.pad).clamp_(0, w - 1)
        length, angle = (values.index_select(0, rows).index_select(1, cols)
                         for values in (self.length, self.angle))
        return self._half(length, angle)

    def _bands(self):
        """``(first, last, read_first, read_last)``: output rows and the input rows they read."""
        h = self.shape[0]
        for a, b in row_bands(h, self.band):
            yield a, b, max(a - self.reach, 0), min(b + self.reach, h)

    def _grid(self, band, dtype: torch.dtype) -> torch.Tensor:
        """Normalized sample positions (n, rows, W, 2) (x = column, y = row) of one band,
        relative to the input rows it reads."""
        a, b, ra, rb = band
        w = self.shape[1]
        device = self.length.device
        scale = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(rb - ra - 1, 1)], device=device,
                             dtype=dtype)
        rows = torch.arange(a - ra, b - ra, device=device, dtype=dtype)
        cols = torch.arange(w, device=device, dtype=dtype)
        centre = torch.stack(torch.meshgrid(cols, rows, indexing="xy"), dim=-1) * scale - 1.0
        # Clamping to the band is clamping to the image: a band reads every row its streaks
        # reach, except beyond the image's first and last rows (the reference's edge rule).
        return torch.addcmul(centre, self.times.to(dtype)[:, None, None, None],
                             self._streak(a, b).to(dtype) * scale).clamp_(-1.0, 1.0)

    def _band_grids(self, dtype: torch.dtype):
        key = (dtype, self.length.device)
        if key in self._grids:
            return self._grids[key]
        grids = (self._grid(band, dtype) for band in self._bands())
        fits = self._grid_values * torch.empty(0, dtype=dtype).element_size() <= _GRID_CACHE_BYTES
        if fits:
            grids = self._grids[key] = list(grids)
        return grids

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W) -> (B, H, W)."""
        planes = x.reshape(1, -1, *x.shape[-2:])
        out = torch.empty_like(planes[0])
        weights = self.weights.to(x.dtype)
        for band, grid in zip(self._bands(), self._band_grids(x.dtype)):
            a, b, ra, rb = band
            read = planes[..., ra:rb, :]
            sampled = F.grid_sample(read.expand(grid.shape[0], -1, -1, -1), grid,
                                    mode="bilinear", padding_mode="border", align_corners=True)
            out[:, a:b] = torch.einsum("n,nbhw->bhw", weights, sampled)
        return out.reshape(x.shape)

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """``K^T y`` for (B, H, W): the exact adjoint of :meth:`forward` (which is linear, so the
        vector-Jacobian product at any point is ``K^T y``; the bilinear gather's scatter)."""
        with torch.enable_grad():
            x = torch.zeros_like(y, requires_grad=True)
            (out,) = torch.autograd.grad(self.forward(x), x, grad_outputs=y)
        return out
