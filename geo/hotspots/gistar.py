"""Getis-Ord Gi* over a whole hexagon grid, the empty cells included, without a row each.

The study area is every cell whose centre is inside the service area, plus any cell that
holds a report (a report just inside the boundary can fall in a cell centred outside it).
Weights are binary over a fixed distance band between centres, the cell itself included,
as ArcGIS's Hot Spot Analysis with "Fixed distance band" and Gi* (self-potential) does:

    z_i = (sum_j w_ij x_j - mean * W_i) / (S * sqrt((n * W_i - W_i^2) / (n - 1)))

with n the number of cells in the study area, W_i the number of study cells within the band
of i (itself included), mean = sum(x) / n and S = sqrt(sum(x^2) / n - mean^2).

How it stays tractable at 50 m, where the study area has millions of cells:
- mean and S need only n and the sums over non-empty cells (an empty cell adds 0 to both);
- in axial coordinates a neighbourhood is the same set of offsets everywhere, so W_i and
  sum_j w_ij x_j for every cell are two correlations of dense arrays with a hexagonal kernel
  (scipy.ndimage), a few hundred milliseconds for the whole grid;
- a cell with no report within its band has sum_j w_ij x_j = 0, so its z depends only on
  W_i, which takes at most len(offsets) values. Those cells are counted by W_i (one block
  of equal p-values each) for the false-discovery-rate correction, which therefore ranks all
  n cells exactly, and only cells with a report within the band get a row of their own.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from geo.hotspots.grid import Lattice
from geo.hotspots.stats import fdr_block_classes


@dataclass(frozen=True)
class GiStar:
    """Gi* for the cells that have a report within their band (array positions a, b)."""

    a: np.ndarray
    b: np.ndarray
    z: np.ndarray
    p: np.ndarray
    classes: np.ndarray
    # The whole study area.
    n: int
    mean: float
    std: float
    # Cells with no report within the band: how many have each neighbour count W, and
    # the z-score and class that cells with that W share.
    quiet_counts: np.ndarray
    quiet_z: np.ndarray
    quiet_classes: np.ndarray
    # Dense, over the lattice: the neighbourhood sizes and sums, and the study area.
    w: np.ndarray
    sum_wx: np.ndarray
    study: np.ndarray

    @staticmethod
    def p_of(z: np.ndarray) -> np.ndarray:
        return two_sided_p(z)

    def at(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """z-scores and classes of any cells (array positions), quiet ones included."""
        w, sum_wx = self.w[a, b], self.sum_wx[a, b]
        z = gi_star_z(sum_wx, w, n=self.n, mean=self.mean, std=self.std)
        classes = np.zeros(len(a), dtype=np.int8)
        inside = self.study[a, b]
        quiet = inside & (sum_wx == 0)
        classes[quiet] = self.quiet_classes[w[quiet]]
        dense = np.zeros(self.study.shape, dtype=np.int8)
        dense[self.a, self.b] = self.classes
        busy = inside & (sum_wx != 0)
        classes[busy] = dense[a[busy], b[busy]]
        return z, classes


def two_sided_p(z: np.ndarray) -> np.ndarray:
    return 2.0 * special.ndtr(-np.abs(z))


def gi_star_z(sum_wx: np.ndarray, w: np.ndarray, *, n: int, mean: float, std: float) -> np.ndarray:
    """The Gi* z-score from the neighbourhood sum and size (vectorised)."""
    sum_wx = np.asarray(sum_wx, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    spread = n * w - w * w
    denominator = std * np.sqrt(np.maximum(spread, 0.0) / max(n - 1, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (sum_wx - mean * w) / denominator
    # No variation at all (no reports, or every cell alike), or a neighbourhood that is the
    # whole study area: there is nothing to test.
    return np.where(denominator > 0, z, 0.0)


def gi_star(lattice: Lattice, values: np.ndarray, study: np.ndarray) -> GiStar:
    """Gi* of ``values`` (a dense array over ``lattice``) within the ``study`` mask."""
    kernel = lattice.grid.kernel
    study = study | (values != 0)
    n = int(study.sum())
    total = float(values.sum(dtype=np.float64))
    total_sq = float(np.square(values, dtype=np.float64).sum())
    mean = total / n if n else 0.0
    std = float(np.sqrt(max(total_sq / n - mean * mean, 0.0))) if n else 0.0

    w = ndimage.correlate(study.astype(np.int32), kernel, mode="constant", cval=0)
    sum_wx = ndimage.correlate(values, kernel, mode="constant", cval=0)

    busy = study & (sum_wx != 0)
    a, b = np.nonzero(busy)
    z = gi_star_z(sum_wx[a, b], w[a, b], n=n, mean=mean, std=std)
    p = two_sided_p(z)

    quiet_counts = np.bincount(w[study & ~busy], minlength=len(lattice.grid.offsets) + 1)
    quiet_z = gi_star_z(
        np.zeros(len(quiet_counts)), np.arange(len(quiet_counts)), n=n, mean=mean, std=std
    )
    quiet_p = two_sided_p(quiet_z)
    classes, quiet_classes = fdr_block_classes(
        z, p, block_z=quiet_z, block_p=quiet_p, block_counts=quiet_counts
    )
    return GiStar(
        a=a,
        b=b,
        z=z,
        p=p,
        classes=classes,
        n=n,
        mean=mean,
        std=std,
        quiet_counts=quiet_counts,
        quiet_z=quiet_z,
        quiet_classes=quiet_classes,
        w=w,
        sum_wx=sum_wx,
        study=study,
    )
