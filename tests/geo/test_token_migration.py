"""Migration geo 0008: planners' plaintext DRF tokens become knox digests and still work."""

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from geo.access import planner_organisation
from geo.models import Organisation
from tests.cast import planner_make

BEFORE = [
    ("geo", "0007_assets_interventions_priorities"),
    ("authtoken", "0004_alter_tokenproxy_options"),
    ("knox", "0009_extend_authtoken_field"),
]
AFTER = [("geo", "0008_hash_planner_tokens")]
KEY = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.django_db(transaction=True)
def test_a_token_made_before_the_migration_still_works_and_is_no_longer_readable(
    west_mercia: Any,
) -> None:
    organisation = Organisation.objects.create(name="Test Council", slug="test-council")
    planner = planner_make("sam", organisation)
    assert planner_organisation(planner) == organisation
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old_apps = executor.loader.project_state(BEFORE).apps
    old_apps.get_model("authtoken", "Token").objects.create(key=KEY, user_id=planner.pk)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT digest, token_key FROM knox_authtoken")
        rows = cursor.fetchall()
    assert len(rows) == 1 and KEY not in rows[0][0] and rows[0][1] == KEY[:15]
    response = APIClient().get("/api/v1/areas", HTTP_AUTHORIZATION=f"Token {KEY}")
    assert response.status_code == 200
