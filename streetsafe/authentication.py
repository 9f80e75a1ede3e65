"""API tokens: knox's, kept as digests, checked in one query."""

from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """Knox's token authentication, without its sweep of the caller's other expired tokens
    on every request: that is a second query per call, and tokens here do not expire
    (``REST_KNOX["TOKEN_TTL"]``). A token given an expiry by hand still stops working then."""

    def _cleanup_token(self, auth_token: Any) -> bool:
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            auth_token.delete()
            return True
        return False


class TokenScheme(OpenApiAuthenticationExtension):
    """The OpenAPI schema's name for it: the same header scheme as DRF's own tokens."""

    target_class = "streetsafe.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'A planner\'s API token, with the prefix "Token": '
            "`Authorization: Token <key>` (manage.py create_planner --token).",
        }
