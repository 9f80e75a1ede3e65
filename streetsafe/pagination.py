"""Paging that treats its parameters as the rest of the API treats any other: a page, a
page size, a limit or an offset that is not a whole number in range is a 400 naming it.

DRF's own classes answer ``page=0`` with a 404 saying only "Invalid page.", and quietly use
the default for a size or an offset they cannot read, so a client with a bug gets either an
answer that names nothing or another page than it asked for. A page past the last is still
a 404 (that page does not exist), saying which it was and how many there are; a size above
the most a page holds is still taken as that most.
"""

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework_gis.pagination import GeoJsonPagination

# More digits than this is no page, size, limit or offset anyone means.
MAX_DIGITS = 9


def whole_number(text: str, *, low: int, high: int | None = None) -> int:
    """``text`` as a whole number from ``low`` to ``high``; ValueError saying so otherwise."""
    text = text.strip()
    # ASCII: isdigit() is true of '²', which int() refuses.
    if text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS:
        number = int(text)
        if number >= low and (high is None or number <= high):
            return number
    to = f" to {high}" if high is not None else ""
    raise ValueError(f"{text[:40]!r} is not a whole number from {low}{to}.")


def _whole_number(request: Request, name: str, *, low: int, high: int | None = None) -> int | None:
    """The query parameter ``name`` through ``whole_number``; None when not given. A 400
    names it otherwise."""
    text = request.query_params.get(name)
    if text is None or not text.strip():
        return None
    try:
        return whole_number(text, low=low, high=high)
    except ValueError as error:
        raise ValidationError({name: [str(error)]}) from None


class PagePagination(GeoJsonPagination):
    """GeoJSON pages (``page``, ``page_size``) with strict parameters. Subclasses set
    ``page_size`` and ``max_page_size`` (or properties reading settings)."""

    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int:
        size = _whole_number(request, self.page_size_query_param, low=1)
        if size is None:
            return self.page_size
        return min(size, self.max_page_size) if self.max_page_size else size

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        page = request.query_params.get(self.page_query_param, "").strip()
        if page not in self.last_page_strings:
            _whole_number(request, self.page_query_param, low=1)
        try:
            return super().paginate_queryset(queryset, request, view)
        except NotFound as missing:
            pages = self.django_paginator_class(queryset, self.get_page_size(request)).num_pages
            raise NotFound(
                f"There is no page {page} of these results: the last is page {pages}."
            ) from missing


class OffsetPagination(LimitOffsetPagination):
    """``limit`` and ``offset`` with strict parameters."""

    def get_limit(self, request: Request) -> int | None:
        limit = _whole_number(request, self.limit_query_param, low=1)
        if limit is None:
            return self.default_limit
        return min(limit, self.max_limit) if self.max_limit else limit

    def get_offset(self, request: Request) -> int:
        return _whole_number(request, self.offset_query_param, low=0) or 0
