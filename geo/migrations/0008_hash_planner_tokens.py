"""Planners' API tokens move from DRF's table, which keeps them in plain text, to knox's,
which keeps a SHA-512 digest: every existing token goes on working, and none is left
readable in the database."""

from typing import Any

from django.db import migrations


def hash_tokens(apps: Any, schema_editor: Any) -> None:
    from knox.crypto import hash_token
    from knox.settings import CONSTANTS

    Token = apps.get_model("authtoken", "Token")
    AuthToken = apps.get_model("knox", "AuthToken")
    for token in Token.objects.all():
        AuthToken.objects.create(
            digest=hash_token(token.key),
            token_key=token.key[: CONSTANTS.TOKEN_KEY_LENGTH],
            user_id=token.user_id,
            expiry=None,
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("geo", "0007_assets_interventions_priorities"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    # Not reversible: the plaintext of a token is not kept to give back.
    operations = [migrations.RunPython(hash_tokens, migrations.RunPython.noop)]
