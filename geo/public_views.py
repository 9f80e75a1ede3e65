"""The public "you said, we did" page: what was done where, for anyone, on any phone.

Plain HTML from the server with one stylesheet: no script at all, so the page works on an
old phone and its policy can forbid every script. It shows exactly what
``GET /api/v1/public/actions`` returns, from the same cached selector.
"""

import datetime as dt
import math

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_safe
from rest_framework.exceptions import ValidationError

from geo.intervention_apis import public_page_params
from geo.interventions import public_actions
from geo.models import Area

PAGE_SIZE = 20

# Nothing but this site's stylesheet: no scripts, frames, fonts or connections.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)


@require_safe
def actions_page(request: HttpRequest) -> HttpResponse:
    """Completed interventions, newest first, twenty a page, optionally of one area."""
    areas = list(
        Area.objects.filter(kind=Area.Kind.LOCAL_POLICING_AREA)
        .order_by("name")
        .values_list("code", "name")
    )
    context: dict[str, object] = {
        "areas": areas,
        "k": settings.K_ANONYMITY,
        "months": settings.EVALUATION_MONTHS,
        "chosen": (request.GET.get("area") or "").strip(),
    }
    try:
        asked = public_page_params(request.GET, page_size=PAGE_SIZE, max_page_size=PAGE_SIZE)
    except ValidationError as error:
        assert isinstance(error.detail, dict)
        context["errors"] = [str(m) for messages in error.detail.values() for m in messages]
        response = render(request, "geo/actions.html", context, status=400)
    else:
        page = asked["page"]
        total, actions = public_actions(
            area=asked["area"], offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        context.update(
            actions=[
                {**vars(action), "day": dt.date.fromisoformat(action.date)} for action in actions
            ],
            total=total,
            page=page,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
            area=asked["area"],
        )
        response = render(request, "geo/actions.html", context)
        patch_cache_control(
            response, public=True, max_age=min(60, settings.PUBLIC_ACTIONS_CACHE_SECONDS)
        )
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
