"""The moderators' admin at /admin/reports/: read reports, approve or reject their text."""

import uuid

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from geo.models import Area
from reports.models import ModerationDecision, Report
from tests.conftest import a_report
from tests.fixtures.points import SHREWSBURY, WORCESTER

CHANGELIST = "/admin/reports/report/"
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


@pytest.fixture(autouse=True)
def _unthrottled(settings):
    # Not a test of the throttle, whose counters live in a Redis that other test runs share.
    settings.REPORT_THROTTLE_RATE = "10000/min"


def submit(reporter, *, at=WORCESTER, **overrides) -> uuid.UUID:
    body = a_report(location={"type": "Point", "coordinates": list(at)}, **overrides)
    response = reporter.post("/api/v1/reports", body, format="json")
    assert response.status_code == 201, response.content
    return uuid.UUID(body["id"])


def change_url(report_id: uuid.UUID) -> str:
    return f"{CHANGELIST}{report_id}/change/"


@pytest.fixture
def moderating(client: Client, moderator: User) -> Client:
    client.force_login(moderator)
    return client


def listed(response) -> set[uuid.UUID]:
    assert response.status_code == 200
    return {report.id for report in response.context["cl"].result_list}


def act(client: Client, action: str, ids: list[uuid.UUID], query: str = ""):
    return client.post(
        CHANGELIST + query,
        {"action": action, "_selected_action": [str(i) for i in ids]},
        follow=True,
    )


def test_it_shows_the_queue_of_pending_text_with_the_original_and_redacted_text(
    reporter, moderating
):
    pending = submit(reporter, description="He got out of AB12 CDE and followed me")
    no_text = submit(reporter)

    response = moderating.get(CHANGELIST)

    assert listed(response) == {pending}
    assert no_text not in listed(response)
    content = response.content.decode()
    assert "He got out of AB12 CDE and followed me" in content
    assert "He got out of [registration removed] and followed me" in content


def test_it_approves_the_selected_text_and_records_who_and_when(reporter, moderating, moderator):
    chosen = submit(reporter, description="Bushes hide the path")
    other = submit(reporter, description="No lights after the bridge")
    before = timezone.now()

    response = act(moderating, "approve_text", [chosen])

    assert response.status_code == 200
    assert "1 of 1 selected reports approved." in response.content.decode()
    assert Report.objects.get(pk=chosen).text_state == Report.TextState.APPROVED
    assert Report.objects.get(pk=other).text_state == Report.TextState.PENDING
    decision = ModerationDecision.objects.get()
    assert decision.report_id == chosen
    assert decision.moderator == moderator
    assert decision.decision == ModerationDecision.Decision.APPROVED
    assert before <= decision.decided_at <= timezone.now()
    # Approved text leaves the queue.
    assert listed(moderating.get(CHANGELIST)) == {other}


def test_it_rejects_the_selected_text_and_records_who_and_when(reporter, moderating, moderator):
    first = submit(reporter, description="The man at 12 Acacia Road is dealing")
    second = submit(reporter, description="Call me on 07700 900123")

    response = act(moderating, "reject_text", [first, second])

    assert "2 of 2 selected reports rejected." in response.content.decode()
    assert set(Report.objects.values_list("text_state", flat=True)) == {"rejected"}
    assert {
        (d.report_id, d.moderator_id, d.decision) for d in ModerationDecision.objects.all()
    } == {(first, moderator.pk, "rejected"), (second, moderator.pk, "rejected")}


def test_a_moderator_may_change_their_mind_and_both_decisions_are_kept(reporter, moderating):
    report_id = submit(reporter, description="Dark alley behind the car park")
    act(moderating, "approve_text", [report_id])

    # Approved text is out of the default queue: the moderator acts from the "All" list.
    act(moderating, "reject_text", [report_id], query="?text_state=all")

    assert Report.objects.get(pk=report_id).text_state == Report.TextState.REJECTED
    assert list(
        ModerationDecision.objects.order_by("decided_at", "id").values_list("decision", flat=True)
    ) == ["approved", "rejected"]


def test_it_records_nothing_for_reports_without_text_or_already_decided(reporter, moderating):
    no_text = submit(reporter)
    approved = submit(reporter, description="Underpass lights are out")
    act(moderating, "approve_text", [approved])

    response = act(moderating, "approve_text", [no_text, approved], query="?text_state=all")

    assert "0 of 2 selected reports approved." in response.content.decode()
    assert Report.objects.get(pk=no_text).text_state == Report.TextState.NONE
    assert ModerationDecision.objects.count() == 1

    # The same action on a pending report does record, so the refusal above was the check.
    pending = submit(reporter, description="Subway smells of drugs")
    act(moderating, "approve_text", [pending])
    assert ModerationDecision.objects.count() == 2


def test_it_filters_by_area(reporter, moderating):
    worcester = submit(reporter, description="Worcester text")
    shrewsbury = submit(reporter, at=SHREWSBURY, description="Shrewsbury text")
    shropshire = Area.objects.get(code="wm-shropshire")

    response = moderating.get(CHANGELIST, {"area__id__exact": shropshire.pk})

    assert listed(response) == {shrewsbury}
    assert worcester not in listed(response)


def test_it_filters_by_reason_among_the_reports_reasons(reporter, moderating):
    dark = submit(reporter, reasons=["poor_lighting", "isolated"], description="dark")
    followed = submit(reporter, reasons=["followed"], description="followed")
    both = submit(reporter, reasons=["followed", "poor_lighting"], description="both")

    assert listed(moderating.get(CHANGELIST, {"reason": "poor_lighting"})) == {dark, both}
    assert listed(moderating.get(CHANGELIST, {"reason": "followed"})) == {followed, both}
    assert listed(moderating.get(CHANGELIST, {"reason": "no_cctv"})) == set()


def test_it_filters_by_text_state_and_by_feeling(reporter, moderating):
    pending = submit(reporter, description="pending")
    approved = submit(reporter, description="approved")
    no_text = submit(reporter)
    safe = submit(reporter, feeling="safe", reasons=[], description="well lit, busy")
    act(moderating, "approve_text", [approved])

    def with_state(state: str) -> set[uuid.UUID]:
        return listed(moderating.get(CHANGELIST, {"text_state": state}))

    assert with_state("pending") == {pending, safe}
    assert with_state("approved") == {approved}
    assert with_state("none") == {no_text}
    assert with_state("all") == {pending, approved, no_text, safe}
    assert listed(moderating.get(CHANGELIST, {"text_state": "all", "feeling": "safe"})) == {safe}


def test_a_moderator_cannot_add_change_or_delete_a_report(reporter, moderating):
    report_id = submit(reporter, description="Original words")

    assert moderating.get(CHANGELIST + "add/").status_code == 403
    response = moderating.post(
        change_url(report_id), {"description": "Edited words", "text_state": "approved"}
    )
    assert response.status_code == 403
    report = Report.objects.get(pk=report_id)
    assert (report.description, report.text_state) == ("Original words", "pending")
    assert moderating.get(f"{CHANGELIST}{report_id}/delete/").status_code == 403
    actions = [
        name
        for name, _ in moderating.get(CHANGELIST).context["action_form"].fields["action"].choices
    ]
    assert "delete_selected" not in actions
    assert {"approve_text", "reject_text"} <= set(actions)


def test_the_change_page_is_read_only_with_a_map_and_the_decisions(reporter, moderating):
    report_id = submit(reporter, description="Path by the river is pitch black")
    act(moderating, "reject_text", [report_id])
    act(moderating, "approve_text", [report_id], query="?text_state=all")

    response = moderating.get(change_url(report_id))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Path by the river is pitch black" in content
    # No editable inputs for the report's fields, and no save button.
    assert 'name="description"' not in content
    assert 'name="_save"' not in content
    # The map widget, its script, and the report's point in the map's projection.
    assert 'id="report_map_map"' in content
    assert "gis/js/OLMapWidget.js" in content
    assert "new MapWidget(options)" in content
    assert "removeInteraction" in content
    # Who decided what, and when, newest first.
    decisions = content[content.index('id="decisions-group"') :]
    assert decisions.count(">moderator</a>") == 2
    assert decisions.index("<p>Approved</p>") < decisions.index("<p>Rejected</p>")
    assert decisions.count('class="field-decided_at">') == 2


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(client):
    user = User.objects.create_user("someone", password="a-password-of-theirs")
    client.force_login(user)

    response = client.get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_staff_outside_the_moderators_group_cannot_see_reports(client):
    client.force_login(User.objects.create_user("staff", is_staff=True))

    assert client.get(CHANGELIST).status_code == 403


def test_a_superuser_may_delete_a_report(reporter, client):
    client.force_login(User.objects.create_superuser("root", password="a-root-password"))
    report_id = submit(reporter)

    response = client.post(f"{CHANGELIST}{report_id}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Report.objects.filter(pk=report_id).exists()


def test_decisions_are_listed_read_only(reporter, moderating):
    report_id = submit(reporter, description="text")
    act(moderating, "approve_text", [report_id])
    decision = ModerationDecision.objects.get()

    assert moderating.get("/admin/reports/moderationdecision/").status_code == 200
    assert (
        moderating.get(f"/admin/reports/moderationdecision/{decision.pk}/change/").status_code
        == 200
    )
    assert moderating.get("/admin/reports/moderationdecision/add/").status_code == 403
    response = moderating.post(
        f"/admin/reports/moderationdecision/{decision.pk}/change/", {"decision": "rejected"}
    )
    assert response.status_code == 403
    assert ModerationDecision.objects.get().decision == "approved"


def test_areas_are_listed_read_only_by_kind_and_searchable(client):
    client.force_login(User.objects.create_superuser("root", password="a-root-password"))

    by_kind = client.get("/admin/geo/area/", {"kind__exact": "lpa"})
    found = client.get("/admin/geo/area/", {"q": "shrops"})

    assert by_kind.status_code == 200
    assert {area.kind for area in by_kind.context["cl"].result_list} == {"lpa"}
    assert len(by_kind.context["cl"].result_list) == 5
    assert [area.code for area in found.context["cl"].result_list] == ["wm-shropshire"]
    area = Area.objects.get(code="wm-shropshire")
    assert client.get(f"/admin/geo/area/{area.pk}/change/").status_code == 200
    assert client.get("/admin/geo/area/add/").status_code == 403
