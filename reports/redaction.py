"""Automatic redaction of free text before any planner reads it.

Removes what could identify someone or let someone be traced: phone numbers, e-mail
addresses, UK postcodes and vehicle registrations. The original is kept beside the redacted
text for moderators only, and purged after the retention period.

The patterns lean towards keeping ordinary text: times ("10pm", "22:30"), dates, bus
routes ("the X50", "144a"), road numbers ("A38", "M5") and distances ("10m") are what
planners need to read, and a moderator sees every text before a planner does.
"""

import re

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)
# UK numbers in their usual forms: 07700 900123, 07700900123, +44 7700 900123,
# 0044 7700 900123, +44 (0)1905 123456, (01905) 123456, 0121-496-0000, 0800 555 111; and
# other +country numbers. A leading 0 or international prefix is required, so that runs of
# digits such as dates and times ("12 03 2024 22 30") are kept.
_PHONE = re.compile(
    r"(?<![\d+])(?<!\d[ \t-])"
    r"(?:(?:\+|00)[1-9]\d{0,2}[ \t-]*(?:\(0\)[ \t-]*)?|\(0(?=\d{2,5}\))|0)"
    r"(?:\d[ \t()-]{0,2}){8,12}\d"
    r"(?!\w)"
)
# Full postcodes, with or without the space, in any case: WR1 2AB, B1 1AA, SW1A 1AA, wr12ab.
# An outward code on its own ("WR1") is a district of thousands of addresses, and is also
# what road and bus numbers look like ("A38", "M5", "X50"), so it is kept.
_POSTCODE = re.compile(
    r"\b(?:GIR[ \t]*0AA"
    r"|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?)[ \t]*\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)
# Current (AB12 CDE), prefix (A123 BCD) and suffix (ABC 123D) style registrations. Written
# as one token (ab12cde, a123bcd) they are found in any case. The current style is found in
# any case with a space too. The spaced prefix and suffix styles only in capitals: in lower
# case they are everyday text ("the A38 and", "for 10m along", "the 144a route").
_REGISTRATION = re.compile(
    r"\b(?:"
    r"(?i:[A-Z]{2}\d{2}[ \t]?[A-Z]{3})"
    r"|(?i:[A-Z]\d{1,3}[A-Z]{3}|[A-Z]{3}\d{1,3}[A-Z])"
    r"|[A-Z]\d{1,3}[ \t][A-Z]{3}|[A-Z]{3}[ \t]\d{1,3}[A-Z]"
    r")\b"
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
