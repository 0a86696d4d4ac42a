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


@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_api_path_is_json_404_even_with_debug(client, settings, method):
    # With DEBUG on Django answers an unmatched path with its technical HTML page and
    # never calls handler404; the catch-all API route answers instead.
    settings.DEBUG = True
    for path in ("/api/v1/nothing-here", "/api/v2/items/", "/api/"):
        response = getattr(client, method)(path)
        assert response.status_code == 404, (method, path)
        assert response["Content-Type"] == "application/json"
        assert response.json()["error"]["code"] == "not_found"


def test_api_path_missing_its_slash_still_redirects(client, settings):
    settings.DEBUG = True
    response = client.get("/api/v1/devices?limit=5")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/devices/?limit=5"
    assert client.get("/api/v1/info/").status_code == 404  # no slash-less twin to offer


def test_favicon_ico_leads_to_the_static_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/img/favicon.svg")
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert b"<svg" in b"".join(icon.streaming_content)


@pytest.mark.parametrize("open_signup", [True, False])
def test_sign_up_is_offered_only_where_it_is_open(client, settings, open_signup):
    settings.CLOUDSAVES_OPEN_SIGNUP = open_signup
    for path in ("/", "/accounts/login/"):
        page = client.get(path).content.decode()
        assert ('href="/accounts/signup/"' in page) is open_signup, path
