import json
import math
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """JSON that keeps NaN and Infinity as floats.

    Strict JSON would reject them as a malformed body; letting them through means the
    field validators can say which field held the non-finite number.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        return parse_json(stream.read(), encoding)


def parse_json(body: bytes, encoding: str = "utf-8") -> Any:
    """The body as JSON, NaN and Infinity included; ParseError naming what is wrong."""
    try:
        return json.loads(body.decode(encoding), parse_constant=_non_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParseError(f"The body is not valid JSON: {exc}") from exc


def _non_finite(name: str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]
