"""The before-and-after of an intervention (geo.evaluation), on reports with known effects.

The site is a new light in Shrewsbury (Shropshire), done on 15 January 2026: the twelve
months before are January to December 2025, January 2026 is left out, and the twelve
after are February 2026 to January 2027, all ended by NOW (10 February 2027). Reports
near the site lie within 60 m of it (the radius is 100 m); the control's lie around a
point 3 km away, elsewhere in Shropshire.
"""

import datetime as dt
import math
from typing import Any

import pytest
from django.conf import settings

from geo.evaluation import Evaluation, intervention_evaluate, kind_reasons, rate_ratio
from geo.interventions import placement
from geo.models import Intervention, Organisation
from reports.models import Report
from tests.fixtures.points import SHREWSBURY, WORCESTER
from tests.geo.hotspot_factories import Row, insert_reports, projected, scattered

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]

DONE = dt.date(2026, 1, 15)
NOW = dt.datetime(2027, 2, 10, 12, 0, tzinfo=dt.UTC)
BEFORE = [(2025, month) for month in range(1, 13)]
AFTER = [(2026, month) for month in range(2, 13)] + [(2027, 1)]


def felt(year: int, month: int) -> dt.datetime:
    return dt.datetime(year, month, 15, 12, 0, tzinfo=dt.UTC)


def a_light(**fields: Any) -> Intervention:
    place = placement(longitude=SHREWSBURY[0], latitude=SHREWSBURY[1])
    organisation, _ = Organisation.objects.get_or_create(name="Shropshire Council", slug="sc")
    values: dict[str, Any] = {
        "organisation": organisation,
        "kind": Intervention.Kind.NEW_LIGHT,
        "location": place.location,
        "location_projected": place.location_projected,
        "area_id": place.area_id,
        "date": DONE,
        "radius_m": 100,
        **fields,
    }
    return Intervention.objects.create(**values)


def near(months: list[tuple[int, int]], per_month: int, **fields: Any) -> None:
    """``per_month`` reports within 60 m of the site in each month."""
    reports_at(projected(SHREWSBURY), months, per_month, spread_m=60, **fields)


def control(months: list[tuple[int, int]], per_month: int, **fields: Any) -> None:
    """``per_month`` reports 3 km east of the site, still in Shropshire, in each month."""
    x, y = projected(SHREWSBURY)
    reports_at((x + 3000, y), months, per_month, spread_m=300, **fields)


def reports_at(
    centre: tuple[float, float],
    months: list[tuple[int, int]],
    per_month: int,
    *,
    spread_m: float,
    **fields: Any,
) -> None:
    rows = []
    for index, (year, month) in enumerate(months):
        points = scattered(centre, count=per_month, spread_m=spread_m, seed=index)
        rows += [Row(x, y, felt_at=felt(year, month), **fields) for x, y in points]
    if rows:
        insert_reports(rows)


def evaluate(intervention: Intervention, now: dt.datetime = NOW) -> Evaluation:
    return intervention_evaluate(intervention, now=now)


# Known effects


def test_a_fall_from_40_to_10_a_month_against_a_steady_area_is_a_rate_ratio_of_a_quarter():
    light = a_light()
    near(BEFORE, 40)
    near(AFTER, 10)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert (found.near.before, found.near.after) == (480, 120)
    assert (found.rest.before, found.rest.after) == (1200, 1200)
    assert found.rate_ratio == 0.25
    assert found.ci_high is not None and found.ci_high < 1
    assert found.insufficient is None
    assert found.verdict == (
        "Reports near the new light fell by 75% relative to the rest of Shropshire "
        "(95% CI 69% to 80%)."
    )


def test_the_confidence_interval_is_the_hand_computed_one():
    # a = 30, b = 15, c = 200, d = 260, spread unevenly over the months.
    light = a_light()
    near(BEFORE[:6], 5)
    near(AFTER[:5], 3)
    control(BEFORE[:4], 50)
    control(AFTER[:10], 26)

    found = evaluate(light)

    assert (found.near.before, found.near.after, found.rest.before, found.rest.after) == (
        30,
        15,
        200,
        260,
    )
    # RR = (15/30) / (260/200) = 0.384615.
    # Dispersion: before, the rest has reports in months 1-4 only (50 each, of 200), where
    # the site's 30 would be 7.5 a month against the 5 seen: 4 * 2.5^2 / 7.5 = 3.3333 on 3
    # degrees of freedom; after, the rest has 26 in each of months 1-10, the site's 15
    # would be 1.5 a month against 3 (months 1-5) and 0 (6-10): 10 * 1.5^2 / 1.5 = 15 on 9.
    # (10/3 + 15) / 12 = 55/36 = 1.527778.
    # SE = sqrt(55/36 * (1/30 + 1/15 + 1/200 + 1/260)) = sqrt(0.166293) = 0.407790;
    # exp(±1.959964 * 0.407790) = 0.449664 and 2.223881.
    assert found.dispersion == 1.528
    assert found.rate_ratio == 0.385
    assert found.ci_low == 0.173
    assert found.ci_high == 0.855
    assert rate_ratio(30, 15, 200, 260, dispersion=55 / 36) == pytest.approx(
        (0.3846154, 0.1729478, 0.8553388), abs=1e-6
    )
    # Poisson's own interval, narrower.
    assert rate_ratio(30, 15, 200, 260) == pytest.approx(
        (0.3846154, 0.2014650, 0.7342665), abs=1e-6
    )
    assert found.verdict == (
        "Reports near the new light fell by 62% relative to the rest of Shropshire "
        "(95% CI 14% to 83%)."
    )


def test_steady_counts_keep_poissons_interval_and_bursts_widen_it():
    light = a_light()
    near(BEFORE, 20)
    near(AFTER, 10)
    control(BEFORE + AFTER, 50)
    steady = evaluate(light)
    # The same totals near the site (240 before, 120 after), in bursts: all of each
    # window's reports in three of its months.
    Report.objects.filter(location_projected__dwithin=(light.location_projected, 100)).delete()
    near(BEFORE[:3], 80)
    near(AFTER[:3], 40)

    bursty = evaluate(light)

    assert steady.dispersion == 1.0
    assert (steady.rate_ratio, steady.ci_low, steady.ci_high) == pytest.approx(
        rate_ratio(240, 120, 600, 600), abs=5e-4
    )
    assert (bursty.near.before, bursty.near.after) == (240, 120)
    assert bursty.rate_ratio == steady.rate_ratio == 0.5
    assert bursty.dispersion is not None and bursty.dispersion > 10
    assert bursty.ci_low is not None and steady.ci_low is not None
    assert bursty.ci_high is not None and steady.ci_high is not None
    assert bursty.ci_low < steady.ci_low and bursty.ci_high > steady.ci_high


def test_the_rate_ratio_is_symmetric_in_its_interval_on_the_log_scale():
    ratio, low, high = rate_ratio(100, 50, 400, 300)

    assert math.log(ratio) - math.log(low) == pytest.approx(math.log(high) - math.log(ratio))
    se = math.sqrt(1 / 100 + 1 / 50 + 1 / 400 + 1 / 300)
    assert math.log(high / low) == pytest.approx(2 * 1.959964 * se, rel=1e-6)


def test_steady_reports_everywhere_give_no_clear_change():
    light = a_light()
    near(BEFORE + AFTER, 20)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert found.rate_ratio == 1.0
    assert found.ci_low is not None and found.ci_high is not None
    assert found.ci_low < 1 < found.ci_high
    assert found.verdict.startswith(
        "No clear change in reports near the new light relative to the rest of Shropshire: "
        "the 95% confidence interval runs from a "
    )


def test_a_rise_near_the_site_is_called_a_rise():
    light = a_light()
    near(BEFORE, 10)
    near(AFTER, 30)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert found.rate_ratio == 3.0
    assert found.ci_low is not None and found.ci_low > 1
    assert found.verdict.startswith("Reports near the new light rose by 200% relative to")


def test_an_area_wide_fall_is_not_credited_to_the_light():
    # Reports halve everywhere: near the light as in the rest of the area.
    light = a_light()
    near(BEFORE, 40)
    near(AFTER, 20)
    control(BEFORE, 200)
    control(AFTER, 100)

    found = evaluate(light)

    assert found.rate_ratio == 1.0
    assert found.verdict.startswith("No clear change")


# Too little to say anything


def test_too_few_reports_give_no_number_and_say_so():
    light = a_light()
    near(BEFORE[:3], 1)
    near(AFTER[:1], 1)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert found.insufficient == "too_few_reports"
    assert found.rate_ratio is found.ci_low is found.ci_high is None
    assert found.verdict == (
        "Too few reports to measure a change: 3 near the new light before and 1 after, "
        "against 1200 and 1200 in the rest of Shropshire. Each of the four needs at least "
        f"{settings.EVALUATION_MIN_COUNT}."
    )


def test_a_zero_count_gives_no_number_even_with_a_minimum_of_one(settings):
    settings.EVALUATION_MIN_COUNT = 1
    light = a_light()
    near(BEFORE, 40)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert found.near.after == 0
    assert found.insufficient == "too_few_reports"
    assert found.rate_ratio is None


def test_the_minimum_count_is_a_setting(settings):
    light = a_light()
    near(BEFORE, 2)
    near(AFTER, 1)
    control(BEFORE + AFTER, 10)
    settings.EVALUATION_MIN_COUNT = 12
    assert evaluate(light).rate_ratio is not None
    settings.EVALUATION_MIN_COUNT = 13

    assert evaluate(light).rate_ratio is None


def test_a_planned_intervention_is_not_evaluated():
    light = a_light(date=dt.date(2027, 5, 3))
    near(BEFORE + AFTER, 20)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert found.insufficient == "planned"
    assert found.rate_ratio is None
    assert found.verdict == (
        "Planned for 3 May 2027: nothing can be measured until whole months have passed after it."
    )
    # Its baseline so far is there to see: the twelve months before May 2027 that have ended.
    assert found.before.months == 12 - 3
    assert found.after.months == 0


def test_an_intervention_of_this_month_waits_for_a_whole_month_after_it():
    light = a_light(date=dt.date(2027, 2, 1))
    near(BEFORE + AFTER, 20)
    control(BEFORE + AFTER, 100)

    found = evaluate(light)

    assert found.insufficient == "no_months_after"
    assert found.rate_ratio is None
    assert found.verdict.startswith("Done on 1 February 2027: no whole month has passed since")


def test_an_intervention_in_no_area_has_no_control():
    light = a_light(area_id=None)
    near(BEFORE + AFTER, 20)

    found = evaluate(light)

    assert found.insufficient == "no_area"
    assert found.area is None
    assert found.rate_ratio is None


# Which reports count, and when


def test_only_unsafe_reports_with_a_reason_the_kind_addresses_count():
    light = a_light()
    near(BEFORE + AFTER, 10)
    # None of these: being followed is not a lighting reason, safe reports are not fear.
    near(BEFORE + AFTER, 7, reasons=("followed",))
    near(BEFORE + AFTER, 5, feeling="safe", reasons=())
    control(BEFORE + AFTER, 50)
    control(BEFORE + AFTER, 9, reasons=("harassment_group",))

    found = evaluate(light)
    camera = evaluate(a_light(kind=Intervention.Kind.NEW_CAMERA))
    other = evaluate(a_light(kind=Intervention.Kind.OTHER))

    assert found.reasons == ("poor_lighting", "isolated")
    assert (found.near.before, found.rest.before) == (120, 600)
    # A camera answers being followed and harassment, not darkness.
    assert (camera.near.before, camera.rest.before) == (7 * 12, 9 * 12)
    # "Other" counts every unsafe report.
    assert (other.near.before, other.rest.before) == (17 * 12, 59 * 12)


def test_each_kind_is_judged_on_the_reasons_it_addresses():
    assert kind_reasons(Intervention.Kind.NEW_LIGHT) == ("poor_lighting", "isolated")
    assert kind_reasons(Intervention.Kind.LIGHT_REPAIRED) == ("poor_lighting", "isolated")
    assert "no_cctv" in kind_reasons(Intervention.Kind.NEW_CAMERA)
    assert "poor_lighting" not in kind_reasons(Intervention.Kind.NEW_CAMERA)
    assert kind_reasons(Intervention.Kind.VEGETATION_CLEARED) == ("restricted_visibility",)
    assert len(kind_reasons(Intervention.Kind.OTHER)) == 10


def test_reports_in_another_policing_area_are_not_the_control():
    light = a_light()
    near(BEFORE + AFTER, 20)
    control(BEFORE + AFTER, 100)
    reports_at(projected(WORCESTER), BEFORE, 500, spread_m=200)

    found = evaluate(light)

    assert found.rest.before == found.rest.after == 1200


def test_the_month_it_was_done_in_and_the_month_not_yet_ended_are_left_out():
    light = a_light()
    near(BEFORE + AFTER, 20)
    control(BEFORE + AFTER, 100)
    near([(2026, 1)], 500)  # the month of the works
    near([(2027, 2)], 500)  # this month, still filling
    near([(2024, 12)], 500)  # thirteen months before

    found = evaluate(light)

    assert (found.near.before, found.near.after) == (240, 240)
    assert found.left_out == "2026-01"
    during = [m for m in found.monthly if m.period == "during"]
    assert [(m.month, m.near, m.rest) for m in during] == [("2026-01", 500, 0)]
    assert (found.monthly[0].month, found.monthly[-1].month) == ("2025-01", "2027-01")
    assert len(found.monthly) == 25


def test_a_report_counts_in_the_month_it_was_felt_not_received():
    light = a_light()
    ids = insert_reports(
        [Row(*projected(SHREWSBURY), felt_at=felt(2025, 6), received_at=felt(2026, 6))]
    )

    found = evaluate(light)

    assert Report.objects.filter(pk__in=ids).count() == 1
    assert {m.month: m.near for m in found.monthly}["2025-06"] == 1
    assert found.near.after == 0


def test_with_fewer_months_after_the_counts_still_compare_like_for_like():
    # Three whole months after: rates per month differ from counts, the ratio does not.
    light = a_light()
    near(BEFORE, 40)
    near(AFTER[:3], 10)
    control(BEFORE + AFTER[:3], 100)

    found = evaluate(light, now=dt.datetime(2026, 5, 20, tzinfo=dt.UTC))

    assert found.after.months == 3
    assert (found.after.first, found.after.last) == ("2026-02", "2026-04")
    assert found.near.before_per_month == 40.0
    assert found.near.after_per_month == 10.0
    assert found.rate_ratio == 0.25


# The JSON


def test_as_dict_is_plain_json_with_every_part(django_assert_num_queries):
    import json

    light = a_light()
    near(BEFORE + AFTER, 20)
    control(BEFORE + AFTER, 100)

    # 1. the area's code and name; 2. the counts per month.
    with django_assert_num_queries(2):
        body = evaluate(light).as_dict()

    assert json.loads(json.dumps(body)) == body
    assert set(body) == {
        "intervention",
        "kind",
        "kind_label",
        "date",
        "radius_m",
        "area",
        "reasons",
        "before",
        "after",
        "left_out",
        "near",
        "rest",
        "monthly",
        "rate_ratio",
        "ci_low",
        "ci_high",
        "dispersion",
        "insufficient",
        "verdict",
        "counted",
    }
    assert body["area"] == {"code": "wm-shropshire", "name": "Shropshire"}
    assert body["before"] == {"first": "2025-01", "last": "2025-12", "months": 12}
    assert body["monthly"][0] == {"month": "2025-01", "period": "before", "near": 20, "rest": 100}
    assert body["counted"].startswith(
        "Unsafe reports giving the reason \u201cDark or badly lit\u201d or "
        "\u201cEmpty or deserted, nobody to help\u201d, within 100 m, in the 12 months before "
        "January 2026"
    )
