"""Server info, health, the error shape on paths outside DRF, the schema and admin."""

import pytest

pytestmark = pytest.mark.django_db


def test_info_needs_no_auth_and_publishes_limits(api, settings):
    response = api.get("/api/v1/info")
    assert response.status_code == 200
    body = response.json()
    assert body["api_version"] == 1
    assert body["max_item_bytes"] == settings.CLOUDSAVES_MAX_ITEM_BYTES == 25 * 1024 * 1024
    assert body["max_batch_changes"] == settings.CLOUDSAVES_MAX_BATCH_CHANGES == 100
    assert body["max_request_bytes"] >= body["max_item_bytes"]
    assert body["inline_binary_max"] > 0
    assert body["handoff_ttl_s"] == 600
    assert body["server_time"].endswith("Z")


def test_healthz_checks_database_and_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "channel_layer": "ok"},
    }


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_method_not_allowed_has_the_error_shape(auth_api):
    response = auth_api.put("/api/v1/devices/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_html_404_for_pages(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_openapi_schema_is_served(auth_api):
    response = auth_api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200


def test_admin_never_shows_token_hashes(client, user, make_device, django_user_model):
    admin = django_user_model.objects.create_superuser(email="root@example.com", password="pw")
    device, token = make_device(user)
    client.force_login(admin)
    for url in (
        f"/admin/accounts/device/{device.id}/change/",
        "/admin/accounts/device/",
        f"/admin/accounts/user/{user.id}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert device.token_hash.encode() not in page.content
        assert token.encode() not in page.content
        assert b"token_hash" not in page.content


def test_static_files_are_served_by_the_app(client):
    # daphne serves no files: the app itself must, or every page is unstyled.
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert b"--" in b"".join(response.streaming_content)
