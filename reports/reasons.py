"""The fixed, versioned list of reasons a place feels unsafe, and what the service says.

Changing a reason's meaning needs a new ``REASONS_VERSION``: stored reports keep the codes
they were made with.
"""

from dataclasses import dataclass
from enum import StrEnum

REASONS_VERSION = 1


class Group(StrEnum):
    ENVIRONMENTAL = "environmental"
    BEHAVIOURAL = "behavioural"
    EITHER = "either"


class Intervention(StrEnum):
    LIGHTING = "lighting"
    CCTV = "cctv"
    PATROL = "patrol"
    VEGETATION = "vegetation"
    DESIGN = "design"
    CLEANSING = "cleansing"


@dataclass(frozen=True)
class Reason:
    code: str
    label: str
    group: Group
    interventions: tuple[Intervention, ...]
    advice: tuple[str, ...]


_ROUTE = (
    "Plan your route before going somewhere new, and keep to busy, well-lit streets and "
    "paths, which are more likely to be covered by cameras."
)
_CONFIDENT = "Look confident, move with purpose, and stay aware of what is around you."
_PHONE = (
    "Keep your phone and valuables out of sight: a phone held in the hand while not looking "
    "around is the one most often snatched. Keep jewellery covered."
)
_TABLE = "Never leave a phone, wallet or purse on an outdoor café or pub table."
_TAXI = "Use only licensed taxis or minicabs booked by phone or app."
_PROPERTY = "If you are threatened, do not risk your safety for property: it can be replaced."

I = Intervention  # noqa: E741 - short alias keeps the table below readable

REASONS: tuple[Reason, ...] = (
    Reason("poor_lighting", "Dark or badly lit", Group.ENVIRONMENTAL, (I.LIGHTING,),
           (_ROUTE, _TAXI)),
    Reason("no_cctv", "No cameras that would see what happens", Group.ENVIRONMENTAL, (I.CCTV,),
           (_ROUTE,)),
    Reason("isolated", "Empty or deserted, nobody to help", Group.ENVIRONMENTAL,
           (I.CCTV, I.PATROL, I.LIGHTING), (_ROUTE, _TAXI, _PHONE)),
    Reason("restricted_visibility", "Blind corners, overgrown bushes or high walls",
           Group.ENVIRONMENTAL, (I.VEGETATION, I.DESIGN), (_ROUTE, _CONFIDENT)),
    Reason("run_down", "Derelict buildings, graffiti, abandoned cars or fly-tipping",
           Group.ENVIRONMENTAL, (I.DESIGN, I.CLEANSING), (_ROUTE,)),
    Reason("drugs_alcohol", "Signs of drug or alcohol use", Group.ENVIRONMENTAL, (I.PATROL,),
           (_CONFIDENT, _TABLE)),
    Reason("followed", "Being followed, now or before", Group.BEHAVIOURAL, (I.CCTV, I.PATROL),
           (_CONFIDENT, _TAXI, _PROPERTY)),
    Reason("harassment_individual", "Verbal harassment by one person", Group.BEHAVIOURAL,
           (I.PATROL, I.CCTV), (_CONFIDENT, _PROPERTY)),
    Reason("harassment_group", "Harassment or intimidation by a group", Group.BEHAVIOURAL,
           (I.PATROL, I.CCTV), (_CONFIDENT, _PHONE, _PROPERTY)),
    Reason("other", "Something else", Group.EITHER, (), (_ROUTE, _CONFIDENT)),
)  # fmt: skip

REASONS_BY_CODE = {reason.code: reason for reason in REASONS}
REASON_CODES = tuple(REASONS_BY_CODE)

GENERAL_ADVICE: tuple[str, ...] = (_ROUTE, _CONFIDENT, _PHONE, _TABLE, _TAXI, _PROPERTY)

SIGNPOSTING: tuple[dict[str, str], ...] = (
    {
        "title": "Emergency",
        "text": "In an emergency, or if a crime is happening now, call 999.",
        "phone": "999",
    },
    {
        "title": "Report a crime",
        "text": "To report a crime that is not an emergency, call 101 or report it online "
        "to the police.",
        "phone": "101",
        "url": "https://www.police.uk/",
    },
    {
        "title": "Crimestoppers",
        "text": "To pass on information anonymously, call Crimestoppers on 0800 555 111 or "
        "use their online form. They never ask your name and cannot trace a call.",
        "phone": "0800 555 111",
        "url": "https://crimestoppers-uk.org/",
    },
    {
        "title": "About this service",
        "text": "This service is not for reporting crime. Reports are anonymous, so nobody "
        "can reply to one.",
    },
)


def advice_for(codes: list[str]) -> list[str]:
    """The advice lines that fit these reasons, each once, most specific first."""
    seen: dict[str, None] = {}
    for code in codes:
        for line in REASONS_BY_CODE[code].advice:
            seen.setdefault(line, None)
    return list(seen) or [_ROUTE, _CONFIDENT]
