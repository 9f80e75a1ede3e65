"""The statistics behind the hot spot maps: FDR-corrected Gi* classes, the Mann-Kendall trend
test and the Emerging Hot Spot Analysis categories. Plain numpy/scipy, no database.

Everything follows ArcGIS Pro's documentation ("Hot Spot Analysis (Getis-Ord Gi*)",
"Optimized Hot Spot Analysis", "How Emerging Hot Spot Analysis works") where it is precise,
and says what it chose where it is not.
"""

from dataclasses import dataclass

import numpy as np
from scipy import special

# Gi_Bin: +3/+2/+1 hot spot at 99/95/90 % confidence, 0 not significant, negatives cold.
# The significance levels, weakest first: a test significant at level i counts i + 1.
FDR_ALPHAS: tuple[float, ...] = (0.10, 0.05, 0.01)
GI_BIN_LABELS: dict[int, str] = {
    3: "Hot Spot - 99% Confidence",
    2: "Hot Spot - 95% Confidence",
    1: "Hot Spot - 90% Confidence",
    0: "Not Significant",
    -1: "Cold Spot - 90% Confidence",
    -2: "Cold Spot - 95% Confidence",
    -3: "Cold Spot - 99% Confidence",
}

NEW_HOT = "new_hot"
CONSECUTIVE_HOT = "consecutive_hot"
INTENSIFYING_HOT = "intensifying_hot"
PERSISTENT_HOT = "persistent_hot"
DIMINISHING_HOT = "diminishing_hot"
SPORADIC_HOT = "sporadic_hot"
OSCILLATING_HOT = "oscillating_hot"
HISTORICAL_HOT = "historical_hot"
NEW_COLD = "new_cold"
CONSECUTIVE_COLD = "consecutive_cold"
INTENSIFYING_COLD = "intensifying_cold"
PERSISTENT_COLD = "persistent_cold"
DIMINISHING_COLD = "diminishing_cold"
SPORADIC_COLD = "sporadic_cold"
OSCILLATING_COLD = "oscillating_cold"
HISTORICAL_COLD = "historical_cold"
NO_PATTERN = ""

# In ArcGIS's table order.
HOT_CATEGORIES: tuple[str, ...] = (
    NEW_HOT,
    CONSECUTIVE_HOT,
    INTENSIFYING_HOT,
    PERSISTENT_HOT,
    DIMINISHING_HOT,
    SPORADIC_HOT,
    OSCILLATING_HOT,
    HISTORICAL_HOT,
)
COLD_CATEGORIES: tuple[str, ...] = (
    NEW_COLD,
    CONSECUTIVE_COLD,
    INTENSIFYING_COLD,
    PERSISTENT_COLD,
    DIMINISHING_COLD,
    SPORADIC_COLD,
    OSCILLATING_COLD,
    HISTORICAL_COLD,
)
EMERGING_CATEGORIES: tuple[str, ...] = HOT_CATEGORIES + COLD_CATEGORIES
# ArcGIS's names for them, as its PATTERN field spells them.
EMERGING_LABELS: dict[str, str] = {
    **{c: c.split("_")[0].capitalize() + " Hot Spot" for c in HOT_CATEGORIES},
    **{c: c.split("_")[0].capitalize() + " Cold Spot" for c in COLD_CATEGORIES},
    NO_PATTERN: "No Pattern Detected",
}


# --------------------------------------------------------------------------------------
# False discovery rate
# --------------------------------------------------------------------------------------


def fdr_classes(
    z: np.ndarray,
    p: np.ndarray,
    *,
    extra_p: float | None = None,
    extra_count: int = 0,
) -> np.ndarray:
    """Gi_Bin (int8, -3..3) of each test after a Benjamini-Hochberg FDR correction.

    ArcGIS (Hot Spot Analysis with "Apply False Discovery Rate (FDR) Correction", and
    Optimized Hot Spot Analysis, which always applies it) reports +/-3, +/-2, +/-1 for
    significance at 99, 95 and 90 % confidence and 0 otherwise; the z-score and p-value
    themselves are not corrected, only the critical p-values that decide the bins are
    "reduced to account for multiple testing and spatial dependency". ArcGIS does not
    publish the exact procedure (step-up or step-down, ties, ``<`` or ``<=``). This is the
    textbook Benjamini-Hochberg step-up procedure, for each alpha in ``FDR_ALPHAS``:

    - sort the m p-values ascending, p_(1) <= ... <= p_(m);
    - k = the largest rank with p_(k) <= alpha * k / m; the critical p is p_(k)
      (none when no rank qualifies: nothing is significant at that level);
    - a test is significant at that level when p <= critical p (so ties with p_(k) are in).

    Class = sign(z) times the number of levels at which the test is significant (the
    critical p-values are nested: a smaller alpha never gives a larger one).

    ``extra_count`` further tests that all have p-value ``extra_p`` (cells far from any
    report, which share one p-value) take part in m and in the ranks but are not returned.
    O(m log m) in the explicit tests, O(1) in the implicit ones.
    """
    if extra_count < 0:
        raise ValueError("extra_count must not be negative")
    if extra_count and extra_p is None:
        raise ValueError("extra_count tests need their p-value, extra_p")
    block_p = np.array([extra_p if extra_p is not None else 1.0])
    classes, _ = fdr_block_classes(
        z, p, block_z=np.zeros(1), block_p=block_p, block_counts=np.array([extra_count])
    )
    return classes


def fdr_block_classes(
    z: np.ndarray,
    p: np.ndarray,
    *,
    block_z: np.ndarray,
    block_p: np.ndarray,
    block_counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``fdr_classes`` with several blocks of implicit tests, and the class of each block.

    Block j stands for ``block_counts[j]`` tests that all have z-score ``block_z[j]`` and
    p-value ``block_p[j]`` (for instance every cell with no report within its band and the
    same number of neighbours). They count in m and in the ranks like explicit tests.
    Returns the classes of the explicit tests (shaped like ``z``) and of each block.
    """
    z = np.asarray(z, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if z.shape != p.shape:
        raise ValueError(f"z has shape {z.shape} but p has shape {p.shape}")
    block_z = np.asarray(block_z, dtype=np.float64).ravel()
    block_p = np.asarray(block_p, dtype=np.float64).ravel()
    block_counts = np.asarray(block_counts).ravel()
    if not (block_z.shape == block_p.shape == block_counts.shape):
        raise ValueError("block_z, block_p and block_counts must have the same length")
    if (block_counts < 0).any():
        raise ValueError("block_counts must not be negative")

    critical = _critical_ps(p.ravel(), block_p, block_counts.astype(np.int64))
    levels = np.zeros(p.shape, dtype=np.int8)
    block_levels = np.zeros(block_p.shape, dtype=np.int8)
    for crit in critical:
        if crit is not None:
            levels += p <= crit
            block_levels += block_p <= crit
    classes = (np.sign(z).astype(np.int8) * levels).astype(np.int8)
    block_classes = (np.sign(block_z).astype(np.int8) * block_levels).astype(np.int8)
    return classes, block_classes


def _critical_ps(
    p: np.ndarray, block_p: np.ndarray, block_counts: np.ndarray
) -> list[float | None]:
    """The Benjamini-Hochberg critical p-value for each alpha in ``FDR_ALPHAS``."""
    keep = block_counts > 0
    values = np.concatenate([p, block_p[keep]])
    counts = np.concatenate([np.ones(p.size, dtype=np.int64), block_counts[keep]])
    m = int(counts.sum())
    if m == 0:
        return [None for _ in FDR_ALPHAS]
    order = np.argsort(values, kind="stable")
    values = values[order]
    # The rank of the last of each entry's tests: the one the step-up condition is
    # weakest for, so the largest qualifying rank is found among these.
    ranks = np.cumsum(counts[order])
    critical: list[float | None] = []
    for alpha in FDR_ALPHAS:
        passing = np.flatnonzero(values <= alpha * ranks / m)
        critical.append(float(values[passing[-1]]) if passing.size else None)
    return critical


# --------------------------------------------------------------------------------------
# Mann-Kendall
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MannKendall:
    """The Mann-Kendall trend test of each row (cell) of a series, one value per cell."""

    s: np.ndarray  # int64: sum over i < j of sign(x_j - x_i)
    var_s: np.ndarray  # variance of S under no trend, with the tie correction
    z: np.ndarray  # normal approximation with continuity correction ("trend z")
    p: np.ndarray  # two-sided ("trend p")
    tau: np.ndarray  # Kendall's tau-b between the series and time


def mann_kendall(series: np.ndarray) -> MannKendall:
    """The Mann-Kendall trend test of each row of ``series`` (cells x time steps, T >= 3).

    ArcGIS runs it on each location's Gi* z-scores over time and reports the result as a
    trend z-score and p-value; it does not publish its tie or continuity handling. This is
    the textbook test (Mann 1945, Kendall 1975):

    - S = sum over i < j of sign(x_j - x_i);
    - Var(S) = (T(T-1)(2T+5) - sum over tie groups of t(t-1)(2t+5)) / 18;
    - z = (S - 1) / sqrt(Var S) if S > 0, (S + 1) / sqrt(Var S) if S < 0, 0 if S = 0;
    - p = 2 * (1 - Phi(|z|));
    - tau = Kendall's tau-b of (time, x): S / sqrt(n0 (n0 - n1)) with n0 = T(T-1)/2 and
      n1 the tied pairs in x (time has none). It equals ``scipy.stats.kendalltau``; a flat
      series, where tau-b is 0/0, gets 0.

    A flat series gives S = 0, Var(S) = 0, z = 0, p = 1. Vectorised over cells; the only
    Python loops are over time steps.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"series must be 2-D (cells x time steps), not {x.ndim}-D")
    n_cells, steps = x.shape
    if steps < 3:
        raise ValueError(f"the Mann-Kendall test needs at least 3 time steps, not {steps}")

    s = np.zeros(n_cells, dtype=np.int64)
    for lag in range(1, steps):
        later, earlier = x[:, lag:], x[:, :-lag]
        s += np.count_nonzero(later > earlier, axis=1)
        s -= np.count_nonzero(later < earlier, axis=1)
    # With c_k the number of steps whose value equals step k's (itself included), that is
    # the size t of its tie group, and summing over tie groups (singletons add 0):
    # sum t = T, sum t^2 = sum_k c_k, sum t^3 = sum_k c_k^2, t(t-1)(2t+5) = 2t^3 + 3t^2 - 5t.
    by_step = np.ascontiguousarray(x.T)  # each step's values over cells, contiguous
    sum_t2 = np.zeros(n_cells, dtype=np.int64)
    sum_t3 = np.zeros(n_cells, dtype=np.int64)
    for k in range(steps):
        c_k = np.count_nonzero(by_step == by_step[k], axis=0)
        sum_t2 += c_k
        sum_t3 += c_k * c_k
    ties = 2 * sum_t3 + 3 * sum_t2 - 5 * steps
    var_s = (steps * (steps - 1) * (2 * steps + 5) - ties) / 18.0

    root = np.sqrt(var_s)
    numerator = s - np.sign(s)
    z = np.divide(numerator, root, out=np.zeros(n_cells), where=(s != 0) & (root > 0))
    p = 2.0 * special.ndtr(-np.abs(z))

    pairs = steps * (steps - 1) / 2.0
    tied_pairs = (sum_t2 - steps) / 2.0
    tau_denominator = np.sqrt(pairs * (pairs - tied_pairs))
    tau = np.divide(s, tau_denominator, out=np.zeros(n_cells), where=tau_denominator > 0)
    return MannKendall(s=s, var_s=var_s, z=z, p=p, tau=tau)


# --------------------------------------------------------------------------------------
# Emerging Hot Spot Analysis
# --------------------------------------------------------------------------------------


def emerging_classes(
    classes: np.ndarray,
    trend_z: np.ndarray,
    trend_p: np.ndarray,
    *,
    alpha: float = 0.05,
) -> np.ndarray:
    """The Emerging Hot Spot Analysis category of each cell (a str array, ``NO_PATTERN``
    where none applies).

    ``classes`` is cells x time steps, oldest first, of Gi* classes (-3..3); any non-zero
    class is a statistically significant hot (> 0) or cold (< 0) spot, as for ArcGIS, at
    90 % confidence or more. ``trend_z`` and ``trend_p`` are the Mann-Kendall trend of each
    cell's Gi* z-scores (``mann_kendall``); a trend is significant when trend_p <= alpha
    (ArcGIS does not say which level it uses).

    ArcGIS's definitions (hot spots; cold spots swap hot and cold and the trend's sign):

    - New: hot in the final time step, never hot before.
    - Consecutive: a single uninterrupted run of at least two hot steps at the end, never
      hot before that run, and less than 90 % of all steps hot.
    - Intensifying: hot in 90 % of the steps including the final one, and a significant
      upward trend (the Gi* z-scores rise).
    - Persistent: hot in 90 % of the steps, no significant trend.
    - Diminishing: hot in 90 % of the steps including the final one, and a significant
      downward trend.
    - Sporadic: hot in the final step, with an on-again, off-again history of hot steps;
      less than 90 % of the steps hot and none cold.
    - Oscillating: hot in the final step, cold in some earlier step; less than 90 % hot.
    - Historical: the final step not hot, but at least 90 % of the steps hot.

    "90 % of the steps" is read as at least 90 % (10 * count >= 9 * T), its complement
    as less than 90 %. Where ArcGIS's words let two categories match, this engine decides:

    - Persistent includes the final step, like Intensifying and Diminishing: otherwise a
      cell hot for 90 % of the steps but not at the end would be Persistent or Historical
      depending on its trend. It is Historical.
    - Historical needs the final step to be not significant at all. A cell that is now a
      cold spot after 90 % of hot steps is described by its present: New, Consecutive or
      Oscillating cold, never Historical hot (and the other way round).
    - "Never hot before" is taken literally, as ArcGIS writes it: earlier cold steps do not
      stop New or Consecutive. So cold, cold, hot is a New hot spot, not Oscillating
      (sfdep's R port reads it the other way: it requires no significant step at all).
    - Sporadic and Oscillating are then the cells hot at the end, under 90 %, and hot at
      some step before their final run: without a cold step Sporadic, with one Oscillating.

    Differences from ArcGIS's tool itself: ArcGIS computes each bin's Gi* over a space-time
    neighbourhood (the "Neighborhood Time Step" parameter pools neighbouring time steps)
    and applies the FDR correction in its own way; here the caller computes Gi* per time
    slice with spatial neighbours only, corrects it with ``fdr_classes``, and passes the
    classes in. The categories only depend on those classes and the trend.
    """
    classes = np.asarray(classes)
    if classes.ndim != 2:
        raise ValueError(f"classes must be 2-D (cells x time steps), not {classes.ndim}-D")
    n_cells, steps = classes.shape
    if steps < 2:
        raise ValueError(f"emerging categories need at least 2 time steps, not {steps}")
    trend_z = np.asarray(trend_z, dtype=np.float64)
    trend_p = np.asarray(trend_p, dtype=np.float64)
    if trend_z.shape != (n_cells,) or trend_p.shape != (n_cells,):
        raise ValueError("trend_z and trend_p need one value per cell (row of classes)")

    hot = classes > 0
    cold = classes < 0
    trend = trend_p <= alpha
    rising = trend & (trend_z > 0)
    falling = trend & (trend_z < 0)

    hot_rules = _emerging_rules(hot, cold, rising=rising, falling=falling)
    cold_rules = _emerging_rules(cold, hot, rising=falling, falling=rising)
    conditions = [*hot_rules, *cold_rules]
    labels = [*HOT_CATEGORIES, *COLD_CATEGORIES]
    width = max(len(label) for label in labels)
    return np.select(conditions, labels, default=NO_PATTERN).astype(f"<U{width}")


def _emerging_rules(
    spot: np.ndarray, other: np.ndarray, *, rising: np.ndarray, falling: np.ndarray
) -> list[np.ndarray]:
    """The eight conditions for one kind of spot (``spot``), in ``HOT_CATEGORIES`` order.

    ``rising`` is a significant trend towards more intense spots of this kind. The eight
    are disjoint, and disjoint from those of the other kind.
    """
    steps = spot.shape[1]
    count = spot.sum(axis=1)
    mostly = 10 * count >= 9 * steps
    now = spot[:, -1]
    quiet_now = ~now & ~other[:, -1]
    # Length of the final run of spot steps: T when every step is one.
    gaps = ~spot
    last_gap = steps - 1 - np.argmax(gaps[:, ::-1], axis=1)
    final_run = np.where(gaps.any(axis=1), steps - 1 - last_gap, steps)
    before_run = count - final_run
    ever_other = other.any(axis=1)
    recent = now & ~mostly
    return [
        recent & (before_run == 0) & (final_run == 1),  # new
        recent & (before_run == 0) & (final_run >= 2),  # consecutive
        now & mostly & rising,  # intensifying
        now & mostly & ~rising & ~falling,  # persistent
        now & mostly & falling,  # diminishing
        recent & (before_run > 0) & ~ever_other,  # sporadic
        recent & (before_run > 0) & ever_other,  # oscillating
        quiet_now & mostly,  # historical
    ]
