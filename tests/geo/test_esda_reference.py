"""bench._esda: PySAL's Gi* is ArcGIS's Gi*, so the engine can be checked against it.

ArcGIS's Gi* with binary weights within a band, the point itself included:

    z_i = (sum_j w_ij x_j - mean * W_i) / (S * sqrt((n * W_i - W_i^2) / (n - 1)))

with W_i the points within the band of i (i included), mean = mean(x) and
S = sqrt(mean(x^2) - mean^2), the population standard deviation.
"""

import numpy as np
from scipy import stats

from bench._esda import esda_gistar


def arcgis_gistar(points: np.ndarray, x: np.ndarray, band: float) -> tuple[np.ndarray, np.ndarray]:
    """z and W_i straight from the formula, with a dense distance matrix."""
    d = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    w = (d <= band).astype(float)
    n = len(x)
    w_i = w.sum(axis=1)
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    z = (w @ x - mean * w_i) / (s * np.sqrt((n * w_i - w_i**2) / (n - 1)))
    return z, w_i


def hexagon_centres(rows: int, columns: int, spacing: float) -> np.ndarray:
    centres = [
        (c * spacing + (r % 2) * spacing / 2, r * spacing * np.sqrt(3) / 2)
        for r in range(rows)
        for c in range(columns)
    ]
    return np.array(centres)


def test_esda_gistar_is_the_arcgis_formula_on_a_hexagon_lattice() -> None:
    # 210 hexagon centres 100 m apart, and one island far from the rest.
    points = np.vstack([hexagon_centres(14, 15, 100.0), [[5000.0, 5000.0]]])
    counts = np.random.default_rng(20240601).integers(0, 10, len(points)).astype(float)
    # Two rings of neighbours (100 m and 173 m, 200 m) and no centre at exactly 210 m.
    band = 210.0

    result = esda_gistar(points[:, 0], points[:, 1], counts, band)
    expected, w_i = arcgis_gistar(points, counts, band)

    assert w_i.max() == 19 and w_i[-1] == 1
    np.testing.assert_allclose(result.z, expected, rtol=0, atol=1e-9)
    # ArcGIS's p-value is two-sided; esda's p_norm is one-sided, half of it.
    two_sided = 2 * stats.norm.sf(np.abs(expected))
    np.testing.assert_allclose(result.p, two_sided, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(result.p_norm, two_sided / 2, rtol=1e-9, atol=1e-15)
    assert result.weights_seconds >= 0 and result.g_local_seconds >= 0


def test_a_point_exactly_at_the_band_is_a_neighbour() -> None:
    grid = np.array([(float(i), float(j)) for i in range(12) for j in range(12)])
    counts = np.random.default_rng(5).integers(0, 6, len(grid)).astype(float)

    result = esda_gistar(grid[:, 0], grid[:, 1], counts, 1.0)
    expected, w_i = arcgis_gistar(grid, counts, 1.0)

    assert w_i.max() == 5  # itself and the four at distance exactly 1
    np.testing.assert_allclose(result.z, expected, rtol=0, atol=1e-9)


def test_coincident_points_are_not_neighbours_in_esda() -> None:
    # libpysal's DistanceBand keeps only non-zero distances: two points at the same place
    # are not each other's neighbours, where ArcGIS's fixed distance band counts them.
    grid = np.array([(float(i), float(j)) for i in range(8) for j in range(8)])
    points = np.vstack([grid, grid[27:28]])
    counts = np.random.default_rng(9).integers(0, 6, len(points)).astype(float)

    result = esda_gistar(points[:, 0], points[:, 1], counts, 1.0)
    arcgis, _ = arcgis_gistar(points, counts, 1.0)

    d = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    w = ((d <= 1.0) & (d > 0)).astype(float) + np.eye(len(points))
    n, w_i, mean = len(counts), w.sum(axis=1), counts.mean()
    s = np.sqrt((counts**2).mean() - mean**2)
    without_coincident = (w @ counts - mean * w_i) / (s * np.sqrt((n * w_i - w_i**2) / (n - 1)))

    np.testing.assert_allclose(result.z, without_coincident, rtol=0, atol=1e-9)
    assert abs(result.z[27] - arcgis[27]) > 1e-3
    assert abs(result.z[-1] - arcgis[-1]) > 1e-3
