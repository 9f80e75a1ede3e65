"""DELETE /api/v1/reports/{id} with the receipt."""

import uuid

import pytest

from reports.models import Report
from tests.conftest import a_report

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("west_mercia")]


def send(client, body):
    response = client.post("/api/v1/reports", body, format="json")
    assert response.status_code == 201
    return response.json()["receipt"]


def delete(client, report_id, receipt=None):
    headers = {"HTTP_X_RECEIPT": receipt} if receipt is not None else {}
    return client.delete(f"/api/v1/reports/{report_id}", **headers)


def test_the_right_receipt_deletes_the_report(reporter):
    body = a_report()
    receipt = send(reporter, body)

    response = delete(reporter, body["id"], receipt)

    assert response.status_code == 204
    assert not Report.objects.filter(pk=body["id"]).exists()


def test_a_wrong_receipt_and_an_unknown_id_get_the_same_404(reporter):
    body = a_report()
    receipt = send(reporter, body)

    wrong_receipt = delete(reporter, body["id"], "not-the-receipt")
    unknown_id = delete(reporter, uuid.uuid4(), receipt)
    not_a_uuid = delete(reporter, "nonsense", receipt)

    assert wrong_receipt.status_code == unknown_id.status_code == not_a_uuid.status_code == 404
    assert wrong_receipt.json() == unknown_id.json() == not_a_uuid.json()
    assert Report.objects.filter(pk=body["id"]).exists()
    assert delete(reporter, body["id"], receipt).status_code == 204


def test_a_receipt_deletes_only_its_own_report(reporter):
    mine, theirs = a_report(), a_report()
    my_receipt = send(reporter, mine)
    send(reporter, theirs)

    assert delete(reporter, theirs["id"], my_receipt).status_code == 404
    assert Report.objects.count() == 2


def test_a_missing_receipt_header_is_a_400_naming_it(reporter):
    body = a_report()
    send(reporter, body)

    response = delete(reporter, body["id"])

    assert response.status_code == 400
    assert "X-Receipt" in response.json()["errors"]
    assert Report.objects.exists()


def test_a_deleted_report_can_be_deleted_again_only_as_a_404(reporter):
    body = a_report()
    receipt = send(reporter, body)
    delete(reporter, body["id"], receipt)

    assert delete(reporter, body["id"], receipt).status_code == 404
