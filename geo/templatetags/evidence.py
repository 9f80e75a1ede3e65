"""Filters for the evidence pack's page (geo/templates/geo/evidence.html)."""

from decimal import Decimal

from django import template

from reports.reasons import REASONS_BY_CODE

register = template.Library()

NEED_LABELS = {"lighting": "street lighting", "cctv": "CCTV"}


@register.filter
def reason_label(code: str) -> str:
    reason = REASONS_BY_CODE.get(code)
    return reason.label if reason else code


@register.filter
def need_label(need: str) -> str:
    return NEED_LABELS.get(need, need)


@register.filter
def money(amount: float | Decimal | None) -> str:
    """Pounds with thousands separators, pence only where there are any."""
    if amount is None:
        return ""
    value = float(amount)
    return f"{value:,.0f}" if value == round(value) else f"{value:,.2f}"


@register.filter
def percent(share: float | None) -> str:
    if share is None:
        return ""
    return f"{100 * float(share):.0f}%"


@register.filter
def weight(value: float | None) -> str:
    """A weighted score to three significant figures: old reports weigh very little, and
    0.0 would hide that they count."""
    if value is None:
        return ""
    value = float(value)
    if value == 0:
        return "0"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
