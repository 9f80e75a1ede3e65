import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes, throttle_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request


def _database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        connection.close_if_unusable_or_obsolete()
        return f"unavailable: {exc.__class__.__name__}"


def _broker_state() -> str:
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
        )
        client.ping()
        client.close()
        return "ok"
    except Exception as exc:
        return f"unavailable: {exc.__class__.__name__}"


_health = inline_serializer(
    "Health", {"database": serializers.CharField(), "broker": serializers.CharField()}
)


@extend_schema(
    summary="Service health",
    responses={200: _health, 503: OpenApiResponse(_health, description="Something is down.")},
    tags=["health"],
)
@api_view(["GET"])
@permission_classes([AllowAny])
@throttle_classes([])
def healthz(request: Request) -> JsonResponse:
    states = {"database": _database_state(), "broker": _broker_state()}
    healthy = all(state == "ok" for state in states.values())
    return JsonResponse(states, status=200 if healthy else 503)
