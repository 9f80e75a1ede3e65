"""Automatic redaction of free text before any planner reads it.

Removes what could identify someone or let someone be traced: phone numbers, e-mail
addresses, UK postcodes and vehicle registrations. The original is kept beside the redacted
text for moderators only, and purged after the retention period.
"""

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# UK numbers (07700 900123, +44 7700 900123, (01905) 123456, 0121-496-0000) and long digit runs.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)?(?:\d[\s().-]{0,2}){9,14}\d(?!\w)")
# Full and outward-only postcodes: WR1 2AB, B1 1AA, SW1A 1AA, wr12ab.
_POSTCODE = re.compile(
    r"\b(?:GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?)\s*\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)
# Current (AB12 CDE), prefix (A123 BCD) and suffix (ABC 123D) style registrations.
_REGISTRATION = re.compile(
    r"\b(?:[A-Z]{2}\d{2}\s?[A-Z]{3}|[A-Z]\d{1,3}\s?[A-Z]{3}|[A-Z]{3}\s?\d{1,3}[A-Z])\b",
    re.IGNORECASE,
)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (_EMAIL, "[email removed]"),
    (_POSTCODE, "[postcode removed]"),
    (_REGISTRATION, "[registration removed]"),
    (_PHONE, "[phone number removed]"),
)


def redact(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
