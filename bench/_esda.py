"""Getis-Ord Gi* computed with PySAL (libpysal weights + esda), the reference the hotspot
engine is compared with.

What esda 2.9 does, read from ``esda.getisord.G_Local`` and checked in
tests/geo/test_esda_reference.py:

- ``star=True`` with binary weights that have no diagonal sets every self-weight to 1
  (``libpysal.weights.fill_diagonal``), so W_i counts i itself, islands included (W_i = 1);
- ``permutations=0`` is allowed and skips the conditional randomisation, so there is no
  ``p_sim``: only the analytical ``Zs`` and ``p_norm``;
- ``Zs`` is algebraically ArcGIS's Gi* z-score (population standard deviation, n - 1 in
  the variance's denominator) and matches it to rounding;
- ``p_norm`` is ONE-sided, ``norm.sf(|z|)``; ArcGIS's p-value is two-sided, twice that;
- ``DistanceBand`` counts j as a neighbour when d_ij <= threshold, but never when d_ij is 0:
  coincident points are not each other's neighbours (ArcGIS's fixed distance band would
  count them).
"""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from esda.getisord import G_Local
from libpysal.weights import DistanceBand


@dataclass(frozen=True)
class EsdaResult:
    z: np.ndarray  # esda's Zs
    p: np.ndarray  # two-sided, as ArcGIS reports it: 2 * p_norm
    p_norm: np.ndarray  # esda's own, one-sided
    weights_seconds: float
    g_local_seconds: float


def esda_gistar(x: np.ndarray, y: np.ndarray, values: np.ndarray, band: float) -> EsdaResult:
    """Gi* of ``values`` at points (x, y), binary weights within ``band``, self included."""
    points = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    start = time.perf_counter()
    weights = DistanceBand(points, threshold=band, binary=True, silence_warnings=True)
    built = time.perf_counter()
    with warnings.catch_warnings():
        # G_Local copies the weights to set the diagonal, and the copy warns about islands
        # again, whatever silence_warnings said.
        warnings.filterwarnings("ignore", "The weights matrix is not fully connected")
        g = G_Local(
            np.asarray(values, dtype=np.float64),
            weights,
            transform="B",
            star=True,
            permutations=0,
        )
    done = time.perf_counter()
    return EsdaResult(
        z=np.asarray(g.Zs, dtype=np.float64),
        p=2.0 * np.asarray(g.p_norm, dtype=np.float64),
        p_norm=np.asarray(g.p_norm, dtype=np.float64),
        weights_seconds=built - start,
        g_local_seconds=done - built,
    )
