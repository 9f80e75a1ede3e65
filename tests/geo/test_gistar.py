"""Gi* over a hexagon grid against the formula, computed here independently with numpy.

The grid is small enough to write the weights matrix out in full from cell-centre
distances: no lattice, no kernel, no correlation, only the textbook (ArcGIS) statistic.
"""

import numpy as np
import pytest

from geo.hotspots.gistar import gi_star
from geo.hotspots.grid import Grid, Lattice, from_axial
from geo.hotspots.stats import fdr_classes


def _expected(x: np.ndarray, centres: np.ndarray, band: float) -> np.ndarray:
    n = len(x)
    distances = np.hypot(*(centres[:, None, :] - centres[None, :, :]).transpose(2, 0, 1))
    weights = (distances <= band + 1e-9).astype(float)  # binary, self included
    w = weights.sum(axis=1)
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    return (weights @ x - mean * w) / (s * np.sqrt((n * w - w**2) / (n - 1)))


@pytest.fixture
def grid() -> Grid:
    # 100 m across the corners: centres 86.6 m apart, so a 180 m band reaches the second
    # ring but not all of it (second ring: 150 m and 173.2 m; third: 229 m).
    return Grid(resolution=100, band=180.0)


def _study(lattice: Lattice) -> np.ndarray:
    """An irregular patch: a disc with a bite taken out, so many cells are edge cells."""
    qs, rs = np.meshgrid(np.arange(lattice.shape[0]), np.arange(lattice.shape[1]), indexing="ij")
    q, r = qs + lattice.q0, rs + lattice.r0
    distance = (np.abs(q) + np.abs(r) + np.abs(q + r)) / 2
    return (distance <= 6) & ~((q > 2) & (r < -1))


def test_z_scores_equal_the_formula_for_every_cell_edges_included(grid: Grid) -> None:
    lattice = Lattice(grid=grid, q0=-10, r0=-10, shape=(21, 21))
    study = _study(lattice)
    rng = np.random.default_rng(7)
    values = np.zeros(lattice.shape, dtype=np.int32)
    a, b = np.nonzero(study)
    busy = rng.random(len(a)) < 0.3
    values[a[busy], b[busy]] = rng.integers(1, 20, busy.sum())
    values[10, 10] = 60  # a hot centre

    result = gi_star(lattice, values, study)

    i, j = lattice.cells(a, b)
    centres = np.column_stack(grid.centres(i, j))
    expected = _expected(values[a, b].astype(float), centres, grid.band)
    z, _ = result.at(a, b)
    assert result.n == len(a)
    np.testing.assert_allclose(z, expected, rtol=0, atol=1e-9)
    # The edge cells really are edge cells: fewer neighbours than an inner cell.
    assert result.w[a, b].min() < len(grid.offsets) == result.w[a, b].max()


def test_classes_are_the_fdr_classes_of_all_cells(grid: Grid) -> None:
    lattice = Lattice(grid=grid, q0=-10, r0=-10, shape=(21, 21))
    study = _study(lattice)
    values = np.zeros(lattice.shape, dtype=np.int32)
    values[9:12, 9:12] = 25
    values[3, 14] = 1

    result = gi_star(lattice, values, study)

    a, b = np.nonzero(study)
    z, classes = result.at(a, b)
    p = result.p_of(z)
    np.testing.assert_array_equal(classes, fdr_classes(z, p))
    assert classes[(a == 10) & (b == 10)][0] == 3
    assert (classes > 0).sum() >= 9


def test_only_cells_with_a_report_within_the_band_are_busy(grid: Grid) -> None:
    lattice = Lattice(grid=grid, q0=-10, r0=-10, shape=(21, 21))
    study = _study(lattice)
    values = np.zeros(lattice.shape, dtype=np.int32)
    values[10, 10] = 5

    result = gi_star(lattice, values, study)

    busy = set(zip(result.a.tolist(), result.b.tolist(), strict=True))
    expected = {(10 + dq, 10 + dr) for dq, dr in grid.offsets.tolist()}
    assert busy == expected
    assert result.quiet_counts.sum() == result.n - len(busy)


def test_a_cell_holding_a_report_outside_the_study_area_joins_it(grid: Grid) -> None:
    lattice = Lattice(grid=grid, q0=-10, r0=-10, shape=(21, 21))
    study = _study(lattice)
    outside = np.argwhere(~study)[0]
    values = np.zeros(lattice.shape, dtype=np.int32)
    values[tuple(outside)] = 3

    result = gi_star(lattice, values, study)

    assert result.n == study.sum() + 1


def test_no_reports_means_nothing_is_significant(grid: Grid) -> None:
    lattice = Lattice(grid=grid, q0=-10, r0=-10, shape=(21, 21))
    study = _study(lattice)
    result = gi_star(lattice, np.zeros(lattice.shape, dtype=np.int32), study)
    a, b = np.nonzero(study)
    z, classes = result.at(a, b)
    assert not z.any()
    assert not classes.any()


def test_axial_and_offset_coordinates_round_trip() -> None:
    i = np.array([-3, -2, -1, 0, 1, 2, 3, 7])
    j = np.array([5, -4, 0, 2, -1, 9, -7, 0])
    q, r = i, j - (i - (i & 1)) // 2
    back_i, back_j = from_axial(q, r)
    np.testing.assert_array_equal(back_i, i)
    np.testing.assert_array_equal(back_j, j)
