"""geo.hotspots.stats: FDR classes, Mann-Kendall, Emerging Hot Spot categories. No database."""

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from geo.hotspots.stats import (
    EMERGING_CATEGORIES,
    EMERGING_LABELS,
    FDR_ALPHAS,
    NO_PATTERN,
    emerging_classes,
    fdr_block_classes,
    fdr_classes,
    mann_kendall,
)

# --------------------------------------------------------------------------------------
# FDR classes
# --------------------------------------------------------------------------------------


def naive_critical_ps(p: list[float], implicit: list[tuple[float, int]]) -> list[float]:
    """Benjamini-Hochberg written out the slow way, every implicit test materialised: the
    critical p-value at each level, -1 where nothing is significant."""
    everything = sorted(list(p) + [bp for bp, count in implicit for _ in range(count)])
    m = len(everything)
    critical = []
    for alpha in (0.10, 0.05, 0.01):
        passing = [k for k in range(1, m + 1) if everything[k - 1] <= alpha * k / m]
        critical.append(everything[max(passing) - 1] if passing else -1.0)
    return critical


def naive_classes(z: np.ndarray, p: np.ndarray, critical: list[float]) -> list[int]:
    levels = sum((np.asarray(p) <= c).astype(int) for c in critical)
    return (np.sign(z).astype(int) * levels).tolist()


def naive_bh_classes(z: np.ndarray, p: np.ndarray, implicit: list[tuple[float, int]]) -> list:
    return naive_classes(z, p, naive_critical_ps(list(p), implicit))


def test_the_levels_are_arcgis_confidence_levels() -> None:
    assert FDR_ALPHAS == (0.10, 0.05, 0.01)


def test_it_applies_the_step_up_rule_at_each_confidence_level() -> None:
    # m = 10, sorted:      k: 1       2      3      4      5      6      7      8 ...
    p_sorted = np.array([0.0005, 0.008, 0.039, 0.041, 0.042, 0.058, 0.074, 0.205, 0.212, 0.216])
    # alpha 0.10, line 0.01 k:  .01 ok, .02 ok, .03 no, .04 no, .05 ok (0.042), .06 ok (0.058),
    #   .07 no, .08 no, ...  -> k = 6, critical p = 0.058: ranks 3 and 4 fail their own line
    #   but are significant because a later rank passes (step-up).
    # alpha 0.05, line 0.005 k: .005 ok, .01 ok (0.008), .015 no, then never -> 0.008.
    # alpha 0.01, line 0.001 k: .001 ok (0.0005), .002 no (0.008), never again -> 0.0005.
    expected_levels = np.array([3, 2, 1, 1, 1, 1, 0, 0, 0, 0])
    signs = np.array([1, -1, 1, -1, 1, 1, -1, 1, -1, 1])
    shuffle = np.random.default_rng(7).permutation(10)

    classes = fdr_classes(signs[shuffle] * 2.5, p_sorted[shuffle])

    assert classes.dtype == np.int8
    assert classes.tolist() == (signs * expected_levels)[shuffle].tolist()


def test_it_counts_a_p_value_on_the_line_as_significant() -> None:
    on_the_line = 0.05 * 1 / 4  # alpha 0.05, rank 1 of m = 4
    just_above = np.nextafter(on_the_line, 1.0)
    rest = [0.9, 0.9, 0.9]

    on = fdr_classes(np.ones(4), np.array([on_the_line, *rest]))
    above = fdr_classes(np.ones(4), np.array([just_above, *rest]))

    # 0.0125 passes alpha 0.10 (line 0.025) and alpha 0.05 (0.0125), not 0.01 (0.0025).
    assert on.tolist() == [2, 0, 0, 0]
    assert above.tolist() == [1, 0, 0, 0]


def test_tied_p_values_are_significant_together() -> None:
    p = np.array([0.2, 0.01, 0.5, 0.01, 0.2, 0.01])
    z = np.array([1.0, 3.0, 0.5, -3.0, 1.0, 3.0])
    # m = 6. alpha 0.05, line 0.05 k / 6: rank 1 0.0083 < 0.01 fails, rank 3 0.025 passes,
    # 0.2 needs 0.033 (k 4) or 0.042 (k 5): no; 0.5 > 0.05 -> critical p = 0.01, all three.
    # alpha 0.10: rank 3 0.05 passes, 0.2 fails 0.067 and 0.083, 0.5 fails 0.1 -> 0.01.
    # alpha 0.01: rank 3 line 0.005 < 0.01 -> nothing.
    assert fdr_classes(z, p).tolist() == [0, 2, 0, -2, 0, 2]


def test_nothing_is_significant_when_no_rank_passes() -> None:
    # m = 5, alpha 0.10 lines 0.02, 0.04, 0.06, 0.08, 0.10: each p is above its own.
    p = np.array([0.021, 0.2, 0.4, 0.6, 0.8])
    z = np.array([4.0, -1.0, 1.0, -0.5, 0.1])

    classes = fdr_classes(z, p)

    assert classes.tolist() == [0, 0, 0, 0, 0]
    # The same p-value alone (m = 1, lines 0.10, 0.05, 0.01) is significant at 95 %.
    assert fdr_classes(z[:1], p[:1]).tolist() == [2]


def test_implicit_tests_with_a_large_p_value_raise_m() -> None:
    z = np.array([2.0, 2.0, 2.0])
    p = np.array([0.0008, 0.004, 0.03])
    # Alone, m = 3: alpha 0.01 lines 0.0033, 0.0067, 0.01 -> ranks 1-2 pass (critical 0.004);
    # alpha 0.05 lines 0.0167, 0.033, 0.05 -> rank 3 passes (0.03).
    assert fdr_classes(z, p).tolist() == [3, 3, 2]

    # With 97 implicit tests at p = 0.9, m = 100: alpha 0.10 line 0.001 k passes rank 1
    # (0.0008) only; alpha 0.05 line 0.0005 k and alpha 0.01 line 0.0001 k pass nothing.
    classes = fdr_classes(z, p, extra_p=0.9, extra_count=97)

    assert classes.tolist() == [1, 0, 0]
    assert classes.shape == (3,)


def test_implicit_tests_with_a_small_p_value_take_the_first_ranks() -> None:
    z = np.array([-2.0])
    p = np.array([0.03])
    # 4 implicit tests at p = 0.001 come first, so 0.03 has rank 5 of m = 5: alpha 0.05
    # line 0.05 passes, alpha 0.01 line 0.01 does not (the block alone does: critical 0.001).
    # Ranked 1 of 5 instead, it would need 0.01 at alpha 0.05 and 0.02 at 0.10 and fail.
    assert fdr_classes(z, p, extra_p=0.001, extra_count=4).tolist() == [-2]


def test_implicit_tests_tied_with_explicit_ones() -> None:
    z = np.array([1.0, 1.0])
    p = np.array([0.01, 0.3])
    # m = 10: 0.01 x 9 (ranks 1-9), 0.3 (rank 10). alpha 0.01 line 0.009 at rank 9: fails;
    # alpha 0.05 line 0.045 at rank 9 passes -> critical 0.01; 0.3 never passes.
    assert fdr_classes(z, p, extra_p=0.01, extra_count=8).tolist() == [2, 0]


@pytest.mark.parametrize("seed", range(6))
def test_it_agrees_with_the_slow_procedure_on_random_p_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    # Many small p-values, so every level has something to find; rounded for ties.
    p = np.round(rng.beta(0.3, 3.0, n), 3)
    z = rng.choice([-1.0, 1.0], n) * rng.uniform(0.1, 4, n)
    extra_p = float(np.round(rng.uniform(0, 0.2), 3))
    extra_count = int(rng.integers(0, 300))

    classes = fdr_classes(z, p, extra_p=extra_p, extra_count=extra_count)

    assert classes.tolist() == naive_bh_classes(z, p, [(extra_p, extra_count)])
    assert set(classes.tolist()) != {0}


def test_blocks_get_their_own_class() -> None:
    rng = np.random.default_rng(11)
    p = np.round(rng.beta(0.3, 3.0, 40), 3)
    z = rng.choice([-1.0, 1.0], 40) * 3
    block_z = np.array([-3.2, 0.4, 2.9])
    block_p = np.array([0.0014, 0.69, 0.0037])
    block_counts = np.array([25, 500, 0])

    classes, block_classes = fdr_block_classes(
        z, p, block_z=block_z, block_p=block_p, block_counts=block_counts
    )

    implicit = list(zip(block_p.tolist(), block_counts.tolist(), strict=True))
    critical = naive_critical_ps(p.tolist(), implicit)
    assert classes.tolist() == naive_classes(z, p, critical)
    # Each block is classed by the same critical p-values, with its own z's sign; the
    # empty block (count 0) takes no part in m but is still classed.
    assert block_classes.tolist() == naive_classes(block_z, block_p, critical)
    assert block_classes[0] < 0 and block_classes[1] == 0 and block_classes[2] > 0


def test_it_refuses_implicit_tests_without_their_p_value() -> None:
    with pytest.raises(ValueError, match="extra_p"):
        fdr_classes(np.ones(2), np.full(2, 0.5), extra_count=3)
    with pytest.raises(ValueError, match="shape"):
        fdr_classes(np.ones(2), np.full(3, 0.5))
    # And the valid call right after works.
    assert fdr_classes(np.ones(2), np.full(2, 0.5), extra_p=0.5, extra_count=3).tolist() == [0, 0]


# --------------------------------------------------------------------------------------
# Mann-Kendall
# --------------------------------------------------------------------------------------


def textbook_s_and_variance(x: list[float]) -> tuple[int, float]:
    """S and Var(S) with the tie correction, straight from the formulas."""
    n = len(x)
    s = sum((x[j] > x[i]) - (x[j] < x[i]) for i, j in itertools.combinations(range(n), 2))
    groups = [x.count(v) for v in set(x)]
    ties = sum(t * (t - 1) * (2 * t + 5) for t in groups)
    return s, (n * (n - 1) * (2 * n + 5) - ties) / 18


def test_a_rising_series_has_the_largest_s_and_a_small_p() -> None:
    result = mann_kendall(np.arange(12, dtype=float)[None, :] * 1.5 + 3)

    assert result.s.tolist() == [12 * 11 // 2]
    assert result.var_s[0] == pytest.approx(12 * 11 * 29 / 18)
    assert result.z[0] == pytest.approx(65 / np.sqrt(12 * 11 * 29 / 18))
    assert result.p[0] < 1e-4
    assert result.tau[0] == pytest.approx(1.0)


def test_a_falling_series_mirrors_it() -> None:
    result = mann_kendall(np.array([[9.0, 8, 7, 6, 5, 4, 3, 2, 1, 0, -1, -2]]))

    assert result.s.tolist() == [-66]
    assert result.z[0] == pytest.approx(-65 / np.sqrt(12 * 11 * 29 / 18))
    assert result.p[0] < 1e-4
    assert result.tau[0] == pytest.approx(-1.0)


def test_a_flat_series_has_no_trend() -> None:
    with np.errstate(all="raise"):
        result = mann_kendall(np.full((1, 8), 2.5))

    assert result.s.tolist() == [0]
    assert result.var_s.tolist() == [0.0]
    assert result.z.tolist() == [0.0]
    assert result.p.tolist() == [1.0]
    assert result.tau.tolist() == [0.0]


def test_a_noisy_series_matches_the_textbook_and_scipy() -> None:
    x = [0.3, -1.2, 0.8, 2.1, 1.7, 0.9, 3.3, 2.2, 4.0, 3.1, 2.8, 5.2, 4.4, 3.9]
    s, var_s = textbook_s_and_variance(x)
    z = (s - 1) / np.sqrt(var_s) if s > 0 else (s + 1) / np.sqrt(var_s)

    result = mann_kendall(np.array([x]))

    assert result.s[0] == s
    assert result.var_s[0] == pytest.approx(var_s)
    assert result.z[0] == pytest.approx(z)
    assert result.p[0] == pytest.approx(2 * scipy_stats.norm.sf(abs(z)))
    assert result.tau[0] == pytest.approx(scipy_stats.kendalltau(range(len(x)), x).statistic)
    assert 0.0 < result.p[0] < 0.05


def test_ties_reduce_the_variance() -> None:
    x = [1.0, 2, 2, 3, 3, 3, 4]
    # Tie groups of sizes 1, 2, 3, 1: sum t(t-1)(2t+5) = 2*1*9 + 3*2*11 = 84.
    # Var S = (7*6*19 - 84) / 18 = 714 / 18; S = 21 pairs - 4 tied pairs = 17, all rising.
    result = mann_kendall(np.array([x]))

    assert result.s.tolist() == [17]
    assert result.var_s[0] == pytest.approx(714 / 18)
    assert result.z[0] == pytest.approx(16 / np.sqrt(714 / 18))
    assert result.tau[0] == pytest.approx(scipy_stats.kendalltau(range(7), x).statistic)
    assert result.tau[0] < 1.0


def test_each_row_is_its_own_series() -> None:
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 5, size=(30, 9)).astype(float)

    together = mann_kendall(rows)

    for i, row in enumerate(rows):
        alone = mann_kendall(row[None, :])
        s, var_s = textbook_s_and_variance(row.tolist())
        assert (together.s[i], together.var_s[i]) == (alone.s[0], alone.var_s[0])
        assert together.s[i] == s
        assert together.var_s[i] == pytest.approx(var_s)
        assert together.p[i] == alone.p[0]


def test_it_needs_three_time_steps_and_a_2d_array() -> None:
    with pytest.raises(ValueError, match="3 time steps"):
        mann_kendall(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="2-D"):
        mann_kendall(np.zeros(5))
    assert mann_kendall(np.zeros((4, 3))).p.tolist() == [1.0] * 4


# --------------------------------------------------------------------------------------
# Emerging Hot Spot categories
# --------------------------------------------------------------------------------------

NO_TREND = (0.4, 0.69)
UP = (3.1, 0.002)
DOWN = (-3.1, 0.002)

# Ten time steps, so that 9 steps are 90 %. One cell per category.
HISTORIES: dict[str, tuple[list[int], tuple[float, float]]] = {
    "new_hot": ([0, 0, 0, 0, 0, 0, 0, 0, 0, 2], NO_TREND),
    "consecutive_hot": ([0, 0, 0, 0, 0, 0, 0, 1, 2, 3], UP),
    "intensifying_hot": ([0, 1, 1, 1, 1, 2, 2, 2, 3, 3], UP),
    "persistent_hot": ([1, 1, 2, 1, 1, 3, 1, 2, 1, 1], NO_TREND),
    "diminishing_hot": ([0, 3, 3, 3, 2, 2, 2, 1, 1, 1], DOWN),
    "sporadic_hot": ([0, 1, 0, 0, 2, 0, 0, 0, 0, 1], NO_TREND),
    "oscillating_hot": ([0, -1, 0, 1, 0, 0, -2, 0, 0, 2], NO_TREND),
    "historical_hot": ([2, 2, 3, 3, 2, 2, 1, 1, 1, 0], DOWN),
    "new_cold": ([0, 0, 0, 0, 0, 0, 0, 0, 0, -1], NO_TREND),
    "consecutive_cold": ([0, 0, 0, 0, 0, 0, -1, -1, -2, -2], DOWN),
    "intensifying_cold": ([0, -1, -1, -1, -2, -2, -2, -3, -3, -3], DOWN),
    "persistent_cold": ([-2, -2, -2, -2, -2, -2, -2, -2, -2, -2], NO_TREND),
    "diminishing_cold": ([-3, -3, -3, -2, -2, -2, -1, -1, 0, -1], UP),
    "sporadic_cold": ([-1, 0, 0, -1, 0, -2, 0, 0, 0, -1], NO_TREND),
    "oscillating_cold": ([3, 0, -1, 0, 0, 1, 0, 0, 0, -1], NO_TREND),
    "historical_cold": ([-1, -1, -1, -1, -1, -1, -1, -1, -1, 0], NO_TREND),
    NO_PATTERN: ([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], NO_TREND),
}


def classify(histories: list[list[int]], trends: list[tuple[float, float]]) -> list[str]:
    z = np.array([t[0] for t in trends])
    p = np.array([t[1] for t in trends])
    return emerging_classes(np.array(histories), z, p).tolist()


def test_every_category_is_an_arcgis_pattern() -> None:
    assert len(EMERGING_CATEGORIES) == len(set(EMERGING_CATEGORIES)) == 16
    assert set(HISTORIES) == {*EMERGING_CATEGORIES, NO_PATTERN}
    assert EMERGING_LABELS["intensifying_cold"] == "Intensifying Cold Spot"
    assert EMERGING_LABELS[NO_PATTERN] == "No Pattern Detected"


def test_it_finds_each_category_in_one_call() -> None:
    names = list(HISTORIES)

    result = classify([HISTORIES[n][0] for n in names], [HISTORIES[n][1] for n in names])

    assert result == names


def test_a_cell_that_was_never_significant_has_no_pattern() -> None:
    assert classify([[0] * 10], [NO_TREND]) == [NO_PATTERN]


def test_ninety_percent_of_the_steps_is_at_least_nine_of_ten() -> None:
    nine = [0, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    eight = [0, 1, 1, 1, 1, 0, 1, 1, 1, 1]
    assert classify([nine, eight], [NO_TREND, NO_TREND]) == ["persistent_hot", "sporadic_hot"]


def test_a_final_run_of_ninety_percent_is_not_consecutive() -> None:
    run_of_nine = [0, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    run_of_eight = [0, 0, 2, 2, 2, 2, 2, 2, 2, 2]
    assert classify([run_of_nine, run_of_eight], [NO_TREND, NO_TREND]) == [
        "persistent_hot",
        "consecutive_hot",
    ]


def test_a_trend_needs_to_be_significant_at_alpha() -> None:
    history = [[1, 1, 2, 2, 2, 3, 3, 3, 3, 3]] * 3
    z = np.array([2.0, 2.0, 2.0])
    p = np.array([0.05, 0.0500001, 0.01])

    result = emerging_classes(np.array(history), z, p, alpha=0.05).tolist()
    stricter = emerging_classes(np.array(history), z, p, alpha=0.01).tolist()

    assert result == ["intensifying_hot", "persistent_hot", "intensifying_hot"]
    assert stricter == ["persistent_hot", "persistent_hot", "intensifying_hot"]


def test_earlier_cold_steps_do_not_stop_a_new_or_consecutive_hot_spot() -> None:
    # ArcGIS: "never been a statistically significant hot spot before": cold steps may be.
    new = [0, -1, -1, 0, 0, 0, 0, 0, 0, 1]
    consecutive = [-2, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    hot_before_cold_after = [0, 1, 0, -1, 0, 0, 0, 0, 1, 1]
    assert classify([new, consecutive, hot_before_cold_after], [NO_TREND] * 3) == [
        "new_hot",
        "consecutive_hot",
        "oscillating_hot",
    ]


def test_a_cell_cold_now_after_ninety_percent_hot_steps_is_a_cold_spot() -> None:
    hot_then_cold = [2, 2, 2, 2, 2, 2, 2, 2, 2, -1]
    hot_then_quiet = [2, 2, 2, 2, 2, 2, 2, 2, 2, 0]
    assert classify([hot_then_cold, hot_then_quiet], [DOWN, DOWN]) == [
        "new_cold",
        "historical_hot",
    ]


def test_historical_does_not_depend_on_the_trend() -> None:
    history = [2, 2, 2, 2, 2, 2, 2, 2, 2, 0]
    assert classify([history] * 3, [NO_TREND, UP, DOWN]) == ["historical_hot"] * 3


def test_a_single_hot_step_before_the_end_is_sporadic_not_new() -> None:
    assert classify([[0, 0, 0, 1, 0, 0, 0, 0, 0, 3]], [NO_TREND]) == ["sporadic_hot"]


def test_it_checks_the_shapes() -> None:
    with pytest.raises(ValueError, match="one value per cell"):
        emerging_classes(np.zeros((3, 10), dtype=int), np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="2-D"):
        emerging_classes(np.zeros(10, dtype=int), np.zeros(1), np.ones(1))
    assert (
        emerging_classes(np.zeros((3, 10), dtype=int), np.zeros(3), np.ones(3)).tolist()
        == [NO_PATTERN] * 3
    )
