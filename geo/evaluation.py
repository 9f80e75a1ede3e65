"""Did it work? Unsafe reports near an intervention before and after, against the rest of
its local policing area.

The design is a difference-in-differences on counts, the one the street lighting and CCTV
systematic reviews use (Farrington & Welsh, "Effects of improved street lighting on
crime: a systematic review", Home Office Research Study 251, 2002; Welsh & Farrington,
"Effects of closed circuit television surveillance on crime", Campbell Systematic
Reviews 2008:17). With

- ``a``, ``b``: reports within ``radius_m`` of the site before and after it was done, and
- ``c``, ``d``: reports in the rest of its local policing area (outside the radius),
  before and after, as the control,

the rate ratio is ``RR = (b / a) / (d / c)``: below 1, reports near the site fell
relative to the rest of the area. The area's own change stands in for everything that
moves reports everywhere at once: more people using the app, the season, the news.

**Why counts, not per-month rates.** The windows before and after may differ in length
(the "after" window grows month by month up to ``EVALUATION_MONTHS``), but both groups
share them: ``(b/Ta) / (a/Tb)`` over ``(d/Ta) / (c/Tb)`` is ``(b/a) / (d/c)``, the lengths
cancel. Rates per month are reported beside the counts, for a reader's chart.

**The confidence interval.** Were each count Poisson, the variance of its log would be
about ``1 / count``; the four are independent, so the standard error of ``log RR`` would be
``sqrt(1/a + 1/b + 1/c + 1/d)`` (Farrington & Welsh 2002, appendix; the same as the
standard error of the log of an odds ratio, Woolf 1955, and of a ratio of two rate
ratios, Altman & Bland, "Interaction revisited", BMJ 2003;326:219). Reports cluster in
time more than a Poisson count does (a bad week, a story in the local news), as monthly
crime counts do (Farrington, Gill, Waples & Argomaniz, "The effects of closed-circuit
television on crime", J Exp Criminol 2007;3:21-38, who inflate this variance for it), and
then that interval is too narrow and a verdict too bold. So the variance is multiplied by
a dispersion factor estimated from the monthly counts themselves, as a quasi-Poisson model
does (McCullagh & Nelder, Generalized Linear Models, 2nd ed. 1989, §4.5): within each
window, if the site's share of the area's reports were steady, its count in month ``m``
would be ``E_m = X * y_m / Y`` (``X``, ``Y``: the site's and the rest's reports in the
window, ``y_m``: the rest's in that month), which takes out whatever moves the whole area
month by month (the season, the app's growth). The factor is Pearson's ``sum (x_m - E_m)^2
/ E_m`` over both windows' months divided by its degrees of freedom (the months, less one
per window), and never less than 1: counts steadier than Poisson are not taken as
evidence. Months in which the rest of the area has no reports give no ``E_m`` and are left
out of it; with fewer than two such months in each window there is nothing to estimate it
from and it is 1.

A verdict is given only when the interval excludes 1, and never from counts below
``EVALUATION_MIN_COUNT`` (below about ten the normal approximation to the log of a Poisson
count is poor, and a zero has no log).

**The windows.** Whole calendar months, by when each report was felt (``felt_month``,
local time; when received where the reporter did not say). The month the intervention was
done in is left out of both windows: part of it is before and part after, and works
take days. "Before" is the ``EVALUATION_MONTHS`` months before that month; "after" the
months after it, up to as many, and only months that have ended (the current month is
still filling).

**Which reports count.** Only unsafe reports giving a reason that the intervention
addresses (``reports.reasons``: a light answers poor lighting and isolation, a camera
no cameras, isolation, being followed and harassment; cleared vegetation restricted
visibility); an intervention of kind "other" counts every unsafe report. A new light
cannot be expected to change how a place feels to someone who was harassed there in
daylight, and counting such reports would dilute a real effect with noise driven by
other causes; these are also the reports that made the site a priority
(``geo.coverage``), so the evaluation checks the very thing the money was spent on. The
cost: if people stop giving "poor lighting" but feel unsafe for other reasons, this count
falls while fear does not; the monthly series lets a planner look.

Other interventions in the same area are not taken out of the control: their effect, if
any, makes this one's look smaller, not larger.
"""

import datetime as dt
import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from geo.models import Area, Intervention
from reports.models import LOCAL_TIME_ZONE
from reports.reasons import REASON_CODES, REASONS
from reports.reasons import Intervention as Remedy

# What each kind of intervention is a remedy for; None: every unsafe report counts.
KIND_REMEDIES: dict[str, Remedy | None] = {
    Intervention.Kind.NEW_LIGHT: Remedy.LIGHTING,
    Intervention.Kind.LIGHT_REPAIRED: Remedy.LIGHTING,
    Intervention.Kind.NEW_CAMERA: Remedy.CCTV,
    Intervention.Kind.VEGETATION_CLEARED: Remedy.VEGETATION,
    Intervention.Kind.OTHER: None,
}

# How a verdict names the site.
SITE_NOUNS: dict[str, str] = {
    Intervention.Kind.NEW_LIGHT: "the new light",
    Intervention.Kind.LIGHT_REPAIRED: "the repaired light",
    Intervention.Kind.NEW_CAMERA: "the new camera",
    Intervention.Kind.VEGETATION_CLEARED: "the cleared vegetation",
    Intervention.Kind.OTHER: "the site",
}

Z_95 = NormalDist().inv_cdf(0.975)


def kind_reasons(kind: str) -> tuple[str, ...]:
    """The reason codes whose unsafe reports an intervention of this kind is judged on."""
    remedy = KIND_REMEDIES[kind]
    if remedy is None:
        return REASON_CODES
    return tuple(reason.code for reason in REASONS if remedy in reason.interventions)


def kind_mask(kind: str) -> int:
    """``reports_report.reason_bits`` with the bits of ``kind_reasons(kind)`` set.

    Every unsafe report has a reason (a database constraint), so the mask of every reason
    lets in every unsafe report.
    """
    return sum(1 << REASON_CODES.index(code) for code in kind_reasons(kind))


def month_index(day: dt.date) -> int:
    """A month as ``reports_report.felt_month`` numbers it: year * 12 + month - 1."""
    return day.year * 12 + day.month - 1


def month_name(index: int) -> str:
    return f"{index // 12}-{index % 12 + 1:02d}"


def _month_words(index: int) -> str:
    return dt.date(index // 12, index % 12 + 1, 1).strftime("%B %Y")


def _day_words(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


@dataclass(frozen=True)
class Counts:
    """One group's reports in the two windows, and per month."""

    before: int
    after: int
    before_per_month: float | None
    after_per_month: float | None


@dataclass(frozen=True)
class Window:
    """Whole months, first and last as YYYY-MM (None when there are none)."""

    first: str | None
    last: str | None
    months: int


@dataclass(frozen=True)
class MonthCount:
    month: str
    # "before", "during" (the month it was done in: left out) or "after".
    period: str
    near: int
    rest: int


@dataclass(frozen=True)
class Evaluation:
    """An intervention's before-and-after, as the API returns it (``as_dict``)."""

    intervention: int | None
    kind: str
    kind_label: str
    date: str
    radius_m: int
    area: dict[str, str] | None
    reasons: tuple[str, ...]
    before: Window
    after: Window
    left_out: str
    near: Counts
    rest: Counts
    monthly: tuple[MonthCount, ...]
    # Difference-in-differences rate ratio and its 95% confidence interval; None, all
    # three, when there is not enough to say anything (``insufficient`` says why).
    rate_ratio: float | None
    ci_low: float | None
    ci_high: float | None
    # What the Poisson variance was multiplied by (at least 1); None with no rate ratio.
    dispersion: float | None
    # "planned", "no_area", "no_months_after", "too_few_reports" or None.
    insufficient: str | None
    verdict: str
    counted: str

    def as_dict(self) -> dict[str, Any]:
        """Exactly the API's JSON: plain dicts, lists, strings and numbers."""
        found = asdict(self)
        found["reasons"] = list(self.reasons)
        found["monthly"] = [asdict(month) for month in self.monthly]
        return found


def rate_ratio(
    a: int, b: int, c: int, d: int, *, dispersion: float = 1.0
) -> tuple[float, float, float]:
    """``(b/a) / (d/c)`` and its 95% confidence interval, from counts that are all > 0.

    ``a``, ``b``: near before and after; ``c``, ``d``: the control before and after.
    The standard error of the log is ``sqrt(dispersion * (1/a + 1/b + 1/c + 1/d))`` (see
    the module; ``dispersion`` from ``dispersion_of``).
    """
    log_ratio = math.log(b) - math.log(a) - math.log(d) + math.log(c)
    se = math.sqrt(dispersion * (1 / a + 1 / b + 1 / c + 1 / d))
    return (
        math.exp(log_ratio),
        math.exp(log_ratio - Z_95 * se),
        math.exp(log_ratio + Z_95 * se),
    )


def dispersion_of(windows: list[list[tuple[int, int]]]) -> float:
    """The quasi-Poisson dispersion of the site's monthly counts, at least 1 (see the
    module): ``windows`` holds, for each window, its months' (near, rest) counts."""
    chi_square = 0.0
    degrees = 0
    for months in windows:
        near_total = sum(near for near, _ in months)
        rest_total = sum(rest for _, rest in months)
        counted = [(near, rest) for near, rest in months if rest > 0]
        if near_total == 0 or len(counted) < 2:
            continue
        for near, rest in counted:
            expected = near_total * rest / rest_total
            chi_square += (near - expected) ** 2 / expected
        degrees += len(counted) - 1
    return max(1.0, chi_square / degrees) if degrees else 1.0


# Unsafe reports with one of the kind's reasons, per month of the two windows: those
# within the radius (in any area, since a site near a boundary has neighbours on both
# sides; and how many of them are in its own area), and all those of its local policing
# area. The rest of the area is the second less the first's own: testing "not within the
# radius" on each of an area's reports would make the planner guess a cost high enough to
# compile the query (a second of JIT) for a few milliseconds of work. The first half uses
# the GiST index on reports_report.location_projected, the second the index on area_id.
_COUNTS_SQL = """
    SELECT r.felt_month, true AS near, count(*), count(*) FILTER (WHERE r.area_id = %(area)s)
    FROM reports_report r
    WHERE ST_DWithin(r.location_projected, ST_SetSRID(ST_MakePoint(%(x)s, %(y)s), %(srid)s),
                     %(radius)s)
      AND r.feeling = 'unsafe' AND (r.reason_bits & %(mask)s) <> 0
      AND r.felt_month BETWEEN %(first)s AND %(last)s
    GROUP BY r.felt_month
    UNION ALL
    SELECT r.felt_month, false AS near, count(*), 0
    FROM reports_report r
    WHERE r.area_id = %(area)s
      AND r.feeling = 'unsafe' AND (r.reason_bits & %(mask)s) <> 0
      AND r.felt_month BETWEEN %(first)s AND %(last)s
    GROUP BY r.felt_month
"""


def _monthly_counts(
    intervention: Intervention, *, first: int, last: int
) -> dict[int, tuple[int, int]]:
    """Per month from ``first`` to ``last`` (inclusive), (near, rest); one query."""
    if last < first:
        return {}
    point = intervention.location_projected
    with connection.cursor() as cursor:
        cursor.execute(
            _COUNTS_SQL,
            {
                "x": point.x,
                "y": point.y,
                "srid": point.srid,
                "radius": intervention.radius_m,
                "mask": kind_mask(intervention.kind),
                "first": first,
                "last": last,
                # No area: no control; -1 is no area's id.
                "area": intervention.area_id if intervention.area_id is not None else -1,
            },
        )
        rows = cursor.fetchall()
    near = {month: (count, own) for month, is_near, count, own in rows if is_near}
    in_area = {month: count for month, is_near, count, _ in rows if not is_near}
    return {
        month: (near.get(month, (0, 0))[0], in_area.get(month, 0) - near.get(month, (0, 0))[1])
        for month in range(first, last + 1)
    }


def _counts(before: int, after: int, before_months: int, after_months: int) -> Counts:
    return Counts(
        before=before,
        after=after,
        before_per_month=round(before / before_months, 2) if before_months else None,
        after_per_month=round(after / after_months, 2) if after_months else None,
    )


def _window(first: int, last: int) -> Window:
    if last < first:
        return Window(first=None, last=None, months=0)
    return Window(first=month_name(first), last=month_name(last), months=last - first + 1)


def intervention_evaluate(
    intervention: Intervention, *, now: dt.datetime | None = None
) -> Evaluation:
    """The before-and-after of one intervention, as of ``now`` (the present by default).

    Two queries at most (the area's name, the counts). A rate ratio is given only from
    four counts of at least ``EVALUATION_MIN_COUNT`` each and at least one whole month
    after the intervention; otherwise ``insufficient`` and the verdict say why.
    """
    now = now or timezone.now()
    today = now.astimezone(ZoneInfo(LOCAL_TIME_ZONE)).date()
    span = settings.EVALUATION_MONTHS
    done_in = month_index(intervention.date)
    # The last month that has ended.
    last_ended = month_index(today) - 1
    first = done_in - span
    last = min(done_in + span, last_ended)
    monthly = _monthly_counts(intervention, first=first, last=last)

    before_last = min(done_in - 1, last)
    after_first = done_in + 1
    before = _window(first, before_last)
    after = _window(after_first, last)
    a = sum(monthly[m][0] for m in range(first, before_last + 1))
    c = sum(monthly[m][1] for m in range(first, before_last + 1))
    b = sum(monthly[m][0] for m in range(after_first, last + 1))
    d = sum(monthly[m][1] for m in range(after_first, last + 1))

    area = _area_of(intervention)
    site = SITE_NOUNS[intervention.kind]
    rest_of = f"the rest of {area['name']}" if area is not None else "the rest of its area"
    minimum = settings.EVALUATION_MIN_COUNT

    insufficient: str | None = None
    ratio = low = high = dispersion = None
    if intervention.date > today:
        insufficient = "planned"
        verdict = (
            f"Planned for {_day_words(intervention.date)}: nothing can be measured until "
            "whole months have passed after it."
        )
    elif area is None:
        insufficient = "no_area"
        verdict = (
            "It lies outside every local policing area, so there is nothing to compare it with."
        )
    elif after.months == 0:
        insufficient = "no_months_after"
        verdict = (
            f"Done on {_day_words(intervention.date)}: no whole month has passed since, so "
            "there is nothing to compare yet."
        )
    elif min(a, b, c, d) < minimum:
        insufficient = "too_few_reports"
        verdict = (
            f"Too few reports to measure a change: {a} near {site} before and {b} after, "
            f"against {c} and {d} in {rest_of}. Each of the four needs at least {minimum}."
        )
    else:
        dispersion = dispersion_of(
            [
                [monthly[m] for m in range(first, before_last + 1)],
                [monthly[m] for m in range(after_first, last + 1)],
            ]
        )
        ratio, low, high = rate_ratio(a, b, c, d, dispersion=dispersion)
        verdict = _verdict(ratio, low, high, site=site, rest_of=rest_of)

    reasons = kind_reasons(intervention.kind)
    return Evaluation(
        intervention=intervention.pk,
        kind=intervention.kind,
        kind_label=intervention.get_kind_display(),
        date=intervention.date.isoformat(),
        radius_m=intervention.radius_m,
        area=area,
        reasons=reasons,
        before=before,
        after=after,
        left_out=month_name(done_in),
        near=_counts(a, b, before.months, after.months),
        rest=_counts(c, d, before.months, after.months),
        monthly=tuple(
            MonthCount(
                month=month_name(m),
                period="before" if m < done_in else "during" if m == done_in else "after",
                near=near,
                rest=rest,
            )
            for m, (near, rest) in sorted(monthly.items())
        ),
        rate_ratio=None if ratio is None else round(ratio, 3),
        ci_low=None if low is None else round(low, 3),
        ci_high=None if high is None else round(high, 3),
        dispersion=None if dispersion is None else round(dispersion, 3),
        insufficient=insufficient,
        verdict=verdict,
        counted=_counted(intervention, reasons=reasons, done_in=done_in, span=span),
    )


def _area_of(intervention: Intervention) -> dict[str, str] | None:
    """The code and name of its area, without reading the boundary (megabytes for a county)."""
    if intervention.area_id is None:
        return None
    if Intervention._meta.get_field("area").is_cached(intervention):
        area = intervention.area
        assert area is not None
        return {"code": area.code, "name": area.name}
    found = Area.objects.filter(pk=intervention.area_id).values("code", "name").first()
    return None if found is None else {"code": found["code"], "name": found["name"]}


def _verdict(ratio: float, low: float, high: float, *, site: str, rest_of: str) -> str:
    """The rate ratio in words: a fall or a rise only when the interval excludes 1."""

    def percent(value: float) -> int:
        return round(abs(value - 1) * 100)

    if high < 1:
        return (
            f"Reports near {site} fell by {percent(ratio)}% relative to {rest_of} "
            f"(95% CI {percent(high)}% to {percent(low)}%)."
        )
    if low > 1:
        return (
            f"Reports near {site} rose by {percent(ratio)}% relative to {rest_of} "
            f"(95% CI {percent(low)}% to {percent(high)}%)."
        )
    return (
        f"No clear change in reports near {site} relative to {rest_of}: the 95% confidence "
        f"interval runs from a {percent(low)}% fall to a {percent(high)}% rise."
    )


def _counted(
    intervention: Intervention, *, reasons: tuple[str, ...], done_in: int, span: int
) -> str:
    """Which reports the counts are of, in a sentence."""
    if KIND_REMEDIES[intervention.kind] is None:
        which = "Unsafe reports for any reason"
    else:
        labels = [f"“{reason.label}”" for reason in REASONS if reason.code in reasons]
        which = "Unsafe reports giving the reason " + (
            labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
        )
    return (
        f"{which}, within {intervention.radius_m} m, in the {span} months before "
        f"{_month_words(done_in)} and up to {span} whole months after it; "
        f"{_month_words(done_in)} itself is left out."
    )
