import functools
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import NoReverseMatch, ResolverMatch, get_script_prefix, resolve, reverse
from django.utils.module_loading import import_string

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


# --- The app's report POSTs, through a shorter chain -------------------------------------
#
# A report from the app is an anonymous JSON POST to a CSRF-exempt view that reads no
# session, no user and no messages and is no static file; passing it through the middleware
# for those (and through URL resolution) cost a fifth of the server's CPU for each report.
# IntakeMiddleware, first in MIDDLEWARE, sends these POSTs through the rest of MIDDLEWARE
# without the middleware in SKIPPED_FOR_INTAKE, in the same order and with the same hooks
# as Django's handler applies them; every other request (the planners' GET on the same path
# included) takes the whole chain.

INTAKE_URL_NAMES = ("reports", "reports-batch")
# No-ops for these requests: not a static file (WhiteNoise), nothing read from the session,
# the user or messages, a CSRF-exempt view, and a POST (conditional GET).
SKIPPED_FOR_INTAKE = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.http.ConditionalGetMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
)


class IntakeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._paths: dict[str, frozenset[str]] = {}
        self._chain: Callable[[HttpRequest], Any] | None = None
        self._matches: dict[tuple[str, str], ResolverMatch] = {}

    def __call__(self, request: HttpRequest) -> Any:
        if request.method != "POST" or request.path_info not in self._intake_paths():
            return self.get_response(request)
        if self._chain is None:
            self._chain = self._build_chain()
        return self._chain(request)

    def _intake_paths(self) -> frozenset[str]:
        """The intake's paths under the URLconf in use (one without them has none)."""
        urlconf = settings.ROOT_URLCONF
        paths = self._paths.get(urlconf)
        if paths is None:
            # As path_info: without the script prefix that reverse() puts in front.
            skip = len(get_script_prefix()) - 1
            try:
                paths = frozenset(reverse(name)[skip:] for name in INTAKE_URL_NAMES)
            except NoReverseMatch:
                paths = frozenset()
            self._paths[urlconf] = paths
        return paths

    def _build_chain(self) -> Callable[[HttpRequest], Any]:
        """As BaseHandler.load_middleware builds the whole chain (synchronous only)."""
        view_hooks: list[Any] = []
        template_hooks: list[Any] = []
        exception_hooks: list[Any] = []
        handler = convert_exception_to_response(
            functools.partial(self._view, view_hooks, template_hooks, exception_hooks)
        )
        own = f"{type(self).__module__}.{type(self).__qualname__}"
        for path in reversed(settings.MIDDLEWARE):
            if path == own or path in SKIPPED_FOR_INTAKE:
                continue
            try:
                instance = import_string(path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                view_hooks.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                template_hooks.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                exception_hooks.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        return handler

    def _view(
        self,
        view_hooks: list[Any],
        template_hooks: list[Any],
        exception_hooks: list[Any],
        request: HttpRequest,
    ) -> HttpResponse:
        """BaseHandler._get_response for a path whose view is known."""
        key = (settings.ROOT_URLCONF, request.path_info)
        match = self._matches.get(key)
        if match is None:
            match = self._matches[key] = resolve(request.path_info)
        request.resolver_match = match
        response = None
        for hook in view_hooks:
            response = hook(request, match.func, match.args, match.kwargs)
            if response:
                break
        if response is None:
            try:
                response = match.func(request, *match.args, **match.kwargs)
            except Exception as exc:
                for hook in exception_hooks:
                    response = hook(request, exc)
                    if response:
                        break
                if response is None:
                    raise
        if hasattr(response, "render") and callable(response.render):
            for hook in template_hooks:
                response = hook(request, response)
            response = response.render()
        return response
