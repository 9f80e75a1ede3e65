import logging
from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 30


class BodySizeLimitMiddleware:
    """Refuses a body over ``MAX_BODY_BYTES`` with 413 before anything reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_BODY_BYTES:
            return JsonResponse(
                {
                    "detail": f"The body is {length} bytes; the limit is "
                    f"{settings.MAX_BODY_BYTES} bytes.",
                    "errors": {"body": [f"At most {settings.MAX_BODY_BYTES} bytes."]},
                },
                status=413,
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """Turns a lost database connection into 503 with ``Retry-After``, never a 500.

    The app keeps the report in its offline queue and sends it again after the delay.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        if isinstance(exception, DatabaseError) and _is_data_error(exception):
            return None
        logger.warning("database unavailable: %s", exception)
        response = JsonResponse(
            {"detail": "The service is briefly unavailable. Please try again shortly."},
            status=503,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response


def _is_data_error(exception: Exception) -> bool:
    # Lock timeouts and cancelled statements are OperationalErrors too, but the database
    # answered; those are real faults to surface, not an outage.
    pgcode = getattr(getattr(exception, "__cause__", None), "pgcode", None)
    return pgcode is not None and not pgcode.startswith("08") and not pgcode.startswith("57P")
