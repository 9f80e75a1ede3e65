"""Hexagon grids in the analysis SRID, as PostGIS draws them.

A resolution is the hexagon's width across its corners in metres; its edge ("size" in
PostGIS) is half that. The cell (i, j) is PostGIS's ``ST_Hexagon(size, i, j)``: flat-topped,
centre at x = 1.5 * size * i, y = sqrt(3) * size * (j + (i mod 2) / 2). A point belongs to
the cell whose centre is nearest (hexagons are the Voronoi cells of their centres), which
the SQL in ``bin.sql`` finds among the two nearest columns.

The analysis works in axial coordinates (q, r) = (i, j - (i - (i mod 2)) / 2), where a
neighbourhood is the same set of offsets for every cell, so a grid is a dense 2-D array
over the service area's bounding box and a fixed-distance neighbourhood sum is one
correlation with a hexagonal kernel.
"""

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.conf import settings

SQRT3 = math.sqrt(3.0)


@dataclass(frozen=True)
class Grid:
    resolution: int
    band: float

    @property
    def size(self) -> float:
        return self.resolution / 2.0

    @cached_property
    def offsets(self) -> np.ndarray:
        """(dq, dr) of every cell whose centre is within ``band`` of a cell's, itself too."""
        reach = math.ceil(self.band / (1.5 * self.size)) + 1
        grid_q, grid_r = np.meshgrid(
            np.arange(-reach, reach + 1), np.arange(-2 * reach, 2 * reach + 1)
        )
        dq, dr = grid_q.ravel(), grid_r.ravel()
        dx = 1.5 * self.size * dq
        dy = SQRT3 * self.size * (dr + dq / 2.0)
        # A relative tolerance keeps a neighbour exactly on the band (a band set to a
        # multiple of the spacing) in, whatever the rounding.
        near = np.hypot(dx, dy) <= self.band * (1 + 1e-9)
        return np.column_stack([dq[near], dr[near]])

    @cached_property
    def kernel(self) -> np.ndarray:
        """The neighbourhood as a 0/1 array centred on (reach, 2 * reach)."""
        offsets = self.offsets
        half_q = int(np.abs(offsets[:, 0]).max())
        half_r = int(np.abs(offsets[:, 1]).max())
        kernel = np.zeros((2 * half_q + 1, 2 * half_r + 1), dtype=np.int32)
        kernel[offsets[:, 0] + half_q, offsets[:, 1] + half_r] = 1
        return kernel

    def centres(self, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centres of cells (i, j) in the analysis SRID."""
        x = 1.5 * self.size * i
        y = SQRT3 * self.size * (j + (i & 1) / 2.0)
        return x, y


def grids() -> list[Grid]:
    return [
        Grid(resolution=resolution, band=band)
        for resolution, band in zip(
            settings.HOTSPOT_RESOLUTIONS, settings.HOTSPOT_DISTANCE_BANDS, strict=True
        )
    ]


def grid_for(resolution: int) -> Grid:
    for grid in grids():
        if grid.resolution == resolution:
            return grid
    raise KeyError(resolution)


def to_axial(i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return i, j - (i - (i & 1)) // 2


def from_axial(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return q, r + (q - (q & 1)) // 2


@dataclass(frozen=True)
class Lattice:
    """A dense (q, r) array over a bounding box of the analysis SRID, with a margin."""

    grid: Grid
    q0: int
    r0: int
    shape: tuple[int, int]

    @classmethod
    def covering(cls, grid: Grid, bbox: tuple[float, float, float, float]) -> "Lattice":
        xmin, ymin, xmax, ymax = bbox
        margin = int(np.abs(grid.offsets).max()) + 2
        w, h = 1.5 * grid.size, SQRT3 * grid.size
        qmin, qmax = math.floor(xmin / w) - margin, math.ceil(xmax / w) + margin
        rmin = math.floor(ymin / h - qmax / 2.0) - margin
        rmax = math.ceil(ymax / h - qmin / 2.0) + margin
        return cls(grid, qmin, rmin, (qmax - qmin + 1, rmax - rmin + 1))

    def index(self, q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return q - self.q0, r - self.r0

    def cells(self, index_q: np.ndarray, index_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) of array positions."""
        return from_axial(index_q + self.q0, index_r + self.r0)

    def inside(self, q: np.ndarray, r: np.ndarray) -> np.ndarray:
        a, b = self.index(q, r)
        return (a >= 0) & (a < self.shape[0]) & (b >= 0) & (b < self.shape[1])

    def mask_from_segments(self, segments: np.ndarray) -> np.ndarray:
        """Cells whose centre lies on one of the horizontal segments (m, x0, x1).

        Line m runs through the centres at y = m * sqrt(3) * size / 2, the cells with
        2r + q = m; its cells inside the service area are those with x0 <= x <= x1.
        """
        mask = np.zeros(self.shape, dtype=bool)
        if len(segments) == 0:
            return mask
        w = 1.5 * self.grid.size
        m = segments[:, 0].astype(np.int64)
        first = np.ceil(segments[:, 1] / w - 1e-9).astype(np.int64)
        last = np.floor(segments[:, 2] / w + 1e-9).astype(np.int64)
        # On line m only columns with q = m (mod 2) have a centre.
        first += (first - m) & 1
        last -= (last - m) & 1
        keep = first <= last
        m, first, last = m[keep], first[keep], last[keep]
        counts = (last - first) // 2 + 1
        # Every (q, r) on every segment: few tens of thousands of segments, vectorised.
        starts = np.repeat(first, counts)
        steps = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        q = starts + 2 * steps
        r = (np.repeat(m, counts) - q) // 2
        ok = self.inside(q, r)
        a, b = self.index(q[ok], r[ok])
        mask[a, b] = True
        return mask
