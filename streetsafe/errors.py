"""One shape for every error the API returns.

``{"detail": "<one sentence>", "errors": {"<field>": ["<message>", ...]}}``; ``errors`` is
present when the fault lies in named fields, and a body that is not JSON at all is reported
under the field ``body``.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"detail": "Invalid input.", "errors": _flatten(exc.detail)}
    elif isinstance(exc, exceptions.ParseError):
        response.data = {"detail": str(exc.detail), "errors": {"body": [str(exc.detail)]}}
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        response.data = {
            "detail": str(exc.detail),
            "errors": {"Content-Type": ["Send the body as application/json."]},
        }
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"detail": str(response.data["detail"])}
    return response


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors as ``{"reasons.1": [...], "location": [...]}``."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" and not prefix else str(key)
            flat.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix or "body": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "body": [str(detail)]}


# Paths whose clients read JSON (the app, QGIS, scripts): Django's own pages for a URL that
# matches nothing, or a server error, are HTML meant for a browser.
JSON_PATH_PREFIXES = ("/api/", "/tiles/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: the API's error shape under JSON_PATH_PREFIXES, else Django's page."""
    if request.path.startswith(JSON_PATH_PREFIXES):
        return JsonResponse(
            {"detail": f"Nothing here: {request.path[:200]} is not a path of this API."},
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the API's error shape under JSON_PATH_PREFIXES, else Django's page."""
    if request.path.startswith(JSON_PATH_PREFIXES):
        return JsonResponse(
            {"detail": "Something went wrong on our side; it has been logged. Try again later."},
            status=500,
        )
    return defaults.server_error(request)
