"""A database that cannot be reached is a 503 with Retry-After, never a 500 page:
in the error shape from API views, as a standalone page elsewhere. (A real PostgreSQL
restart under load is tests/test_database_restart.py.)"""

from unittest import mock

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db

GONE = OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def test_an_api_view_answers_503_in_the_error_shape(auth_api):
    with mock.patch("sync.selectors.changes_since", side_effect=GONE):
        response = auth_api.get("/api/v1/sync/changes")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.json()["error"]["details"] == {"retry_after": 5}


def test_a_page_answers_the_standalone_503_page(client, user):
    client.force_login(user)
    with mock.patch("accounts.views.render", side_effect=GONE):
        response = client.get("/devices/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"briefly unavailable" in response.content


def test_other_errors_are_still_500(auth_api):
    with mock.patch("sync.selectors.changes_since", side_effect=RuntimeError("a bug")):
        response = auth_api.get("/api/v1/sync/changes")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"


def test_every_operation_declares_the_503(auth_api):
    schema = auth_api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            answer = operation["responses"]["503"]
            assert answer["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ApiError"
            }, (method, path)
            assert answer["headers"]["Retry-After"]["required"] is True
