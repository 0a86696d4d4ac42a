"""Items over REST: create, ETag/If-Match, base_version, 428, raw content, versions,
restore, conflict resolution."""

import base64
import uuid

import pytest

from sync import schemas
from sync.models import Item

from .conftest import new_id, put
from .test_schema import assert_matches

pytestmark = pytest.mark.django_db


def create(device, **body):
    response = device.client.post("/api/v1/items/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_read_and_etag(phone):
    item = create(phone, kind="text", name="todo.md", content="- milk")
    assert item["version"] == 1
    response = phone.client.get(f"/api/v1/items/{item['id']}/")
    assert response.status_code == 200
    assert response["ETag"] == '"v1"'
    assert response.json()["content"] == "- milk"


def test_create_with_client_id_and_duplicate(phone):
    item_id = new_id()
    create(phone, id=item_id, kind="text", name="a", content="x")
    again = phone.client.post(
        "/api/v1/items/", {"id": item_id, "kind": "text", "content": "y"}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "exists"


def test_create_rejections_are_4xx_with_the_error_shape(phone, settings):
    bad = phone.client.post("/api/v1/items/", {"kind": "text", "content": "\x00"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid"
    settings.CLOUDSAVES_MAX_ITEM_BYTES = 3
    big = phone.client.post("/api/v1/items/", {"kind": "text", "content": "abcd"}, format="json")
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "too_large"


def test_multipart_upload(phone):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("shot.png", b"\x89PNG\r\n\x1a\n...", content_type="image/png")
    response = phone.client.post("/api/v1/items/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.content
    item = response.json()
    assert (item["kind"], item["name"], item["content_type"]) == ("binary", "shot.png", "image/png")
    raw = phone.client.get(f"/api/v1/items/{item['id']}/content")
    assert raw.content == b"\x89PNG\r\n\x1a\n..."
    assert raw["Content-Type"] == "image/png"
    assert raw["Content-Disposition"] == 'attachment; filename="shot.png"'
    assert raw["X-Content-Type-Options"] == "nosniff"


def test_unsafe_file_names_are_encoded(phone):
    item = create(phone, kind="text", name='evil"\r\nX-Injected: 1.html', content="<script>")
    raw = phone.client.get(f"/api/v1/items/{item['id']}/content")
    assert "\n" not in raw["Content-Disposition"]
    assert raw["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    assert "sandbox" in raw["Content-Security-Policy"]


def test_if_match_is_strict(phone, laptop):
    item = create(phone, kind="text", name="n", content="one")
    url = f"/api/v1/items/{item['id']}/"
    ok = phone.client.put(url, {"content": "two"}, format="json", HTTP_IF_MATCH='"v1"')
    assert ok.status_code == 200
    assert ok.json()["status"] == "applied"
    assert ok["ETag"] == '"v2"'
    stale = laptop.client.put(url, {"content": "three"}, format="json", HTTP_IF_MATCH='"v1"')
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "precondition_failed"
    assert phone.client.get(url).json()["content"] == "two"
    junk = phone.client.put(url, {"content": "x"}, format="json", HTTP_IF_MATCH="v2")
    assert junk.status_code == 400


def test_base_version_has_push_semantics(phone, laptop):
    item = create(phone, kind="text", name="n", content="alpha beta")
    url = f"/api/v1/items/{item['id']}/"
    phone.client.patch(url, {"content": "ALPHA beta", "base_version": 1}, format="json")
    merged = laptop.client.patch(url, {"content": "alpha BETA", "base_version": 1}, format="json")
    assert merged.status_code == 200
    assert merged.json()["status"] == "merged"
    conflict = laptop.client.patch(url, {"content": "x BETA", "base_version": 1}, format="json")
    assert conflict.status_code == 409
    assert conflict.json()["status"] == "conflict"
    assert conflict.json()["conflict_id"]


def test_write_without_precondition_is_428(phone):
    item = create(phone, kind="text", name="n", content="x")
    url = f"/api/v1/items/{item['id']}/"
    for method in ("put", "patch"):
        response = getattr(phone.client, method)(url, {"content": "y"}, format="json")
        assert response.status_code == 428
        assert response.json()["error"]["code"] == "precondition_required"
    assert phone.client.delete(url).status_code == 428
    assert phone.client.put(f"{url}content", b"y", content_type="text/plain").status_code == 428


def test_patch_renames_put_needs_content(phone):
    item = create(phone, kind="text", name="old", content="body")
    url = f"/api/v1/items/{item['id']}/"
    assert phone.client.put(url, {"name": "x", "base_version": 1}, format="json").status_code == 400
    renamed = phone.client.patch(url, {"name": "new", "base_version": 1}, format="json").json()
    assert (renamed["item"]["name"], renamed["item"]["version"]) == ("new", 2)
    assert phone.client.get(url).json()["content"] == "body"


def test_delete_with_if_match_and_base_version(phone):
    a = create(phone, kind="text", name="a", content="x")
    b = create(phone, kind="text", name="b", content="y")
    one = phone.client.delete(f"/api/v1/items/{a['id']}/", HTTP_IF_MATCH='"v1"')
    assert one.status_code == 200
    assert one.json()["item"]["deleted"] is True
    two = phone.client.delete(f"/api/v1/items/{b['id']}/?base_version=1")
    assert two.json()["item"]["deleted"] is True
    listed = phone.client.get("/api/v1/items/").json()["results"]
    assert listed == []
    assert len(phone.client.get("/api/v1/items/?deleted=true").json()["results"]) == 2
    gone = phone.client.get(f"/api/v1/items/{a['id']}/content")
    assert gone.status_code == 404


def test_raw_content_put(phone):
    item = create(phone, kind="binary", name="s.sav", content_b64=base64.b64encode(b"1").decode())
    url = f"/api/v1/items/{item['id']}/content"
    response = phone.client.put(
        url + "?content_type=application/x-save",
        b"\x00\x01binary",
        content_type="application/octet-stream",
        HTTP_X_BASE_VERSION="1",
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == '"v2"'
    assert phone.client.get(url).content == b"\x00\x01binary"
    assert phone.client.get(url)["Content-Type"] == "application/x-save"
    # The upload's own Content-Type says how the body travels, not what the item is.
    again = phone.client.put(url, b"next", content_type="text/html", HTTP_IF_MATCH='"v2"')
    assert again.status_code == 200, again.content
    assert again.json()["item"]["content_type"] == "application/x-save"
    assert phone.client.get(url)["Content-Type"] == "application/x-save"
    bad_type = phone.client.put(
        url + "?content_type=a%0d%0ab",
        b"x",
        content_type="application/octet-stream",
        HTTP_IF_MATCH='"v3"',
    )
    assert bad_type.status_code == 400, bad_type.content
    text = create(phone, kind="text", name="t", content="x")
    bad = phone.client.put(
        f"/api/v1/items/{text['id']}/content",
        b"\xff\xfe",
        content_type="text/plain",
        HTTP_IF_MATCH='"v1"',
    )
    assert bad.status_code == 400


def test_versions_and_restore(phone):
    item = create(phone, kind="text", name="n", content="first")
    url = f"/api/v1/items/{item['id']}/"
    phone.client.put(url, {"content": "second", "base_version": 1}, format="json")
    versions = phone.client.get(f"{url}versions/").json()["results"]
    assert [(v["number"], v["origin"]) for v in versions] == [(2, "edit"), (1, "create")]
    assert phone.client.get(f"{url}versions/1/").json()["content"] == "first"
    assert phone.client.get(f"{url}versions/1/content").content == b"first"
    assert phone.client.get(f"{url}versions/9/").status_code == 404
    restored = phone.client.post(
        f"{url}restore", {"version": 1, "base_version": 2}, format="json"
    ).json()
    assert restored["item"]["version"] == 3
    assert phone.client.get(url).json()["content"] == "first"
    head = phone.client.get(f"{url}versions/3/").json()
    assert (head["origin"], head["parent"], head["merge_parent"]) == ("restore", 2, 1)
    stale = phone.client.post(f"{url}restore", {"version": 1, "base_version": 2}, format="json")
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "stale"


def test_list_filters_and_paging(phone):
    for i in range(5):
        create(phone, kind="text", name=f"note {i}", content="x")
    create(phone, kind="binary", name="pic", content_b64="AAEC")
    assert len(phone.client.get("/api/v1/items/?kind=binary").json()["results"]) == 1
    assert len(phone.client.get("/api/v1/items/?q=note").json()["results"]) == 5
    first = phone.client.get("/api/v1/items/?limit=4").json()
    assert len(first["results"]) == 4
    rest = phone.client.get(first["next"]).json()
    assert len(rest["results"]) == 2
    assert rest["next"] is None
    assert phone.client.get("/api/v1/items/?kind=video").status_code == 400


def test_other_users_items_are_404(phone, stranger):
    item = create(phone, kind="text", name="private", content="secret")
    for url in (
        f"/api/v1/items/{item['id']}/",
        f"/api/v1/items/{item['id']}/content",
        f"/api/v1/items/{item['id']}/versions/",
        f"/api/v1/items/{item['id']}/versions/1/",
    ):
        theirs = stranger.client.get(url)
        missing = stranger.client.get(url.replace(item["id"], str(uuid.uuid4())))
        assert theirs.status_code == missing.status_code == 404, url
        assert theirs.json() == missing.json()
    response = stranger.client.put(
        f"/api/v1/items/{item['id']}/", {"content": "mine"}, format="json", HTTP_IF_MATCH='"v1"'
    )
    assert response.status_code == 404
    assert Item.objects.get().version == 1


# -- resolving conflicts --------------------------------------------------------------------


def make_text_conflict(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "the cat sat", name="pets.txt"))
    laptop.push_one(put(item_id, "the dog sat", base=1, name="pets.txt"))
    result = phone.push_one(put(item_id, "the bird sat", base=1, name="pets.txt"))
    assert result["status"] == "conflict"
    return item_id, result["conflict_id"], result["item"]["version"]


def resolve(device, conflict_id, **body):
    return device.client.post(f"/api/v1/conflicts/{conflict_id}/resolve", body, format="json")


def test_resolve_server_incoming_and_merged(phone, laptop):
    item_id, conflict_id, head = make_text_conflict(phone, laptop)
    assert phone.client.get("/api/v1/conflicts/?status=open").json()["results"][0]["id"] == (
        conflict_id
    )
    response = resolve(phone, conflict_id, choice="server", base_version=head)
    assert response.status_code == 200, response.content
    from accounts.models import AuditEvent

    event = AuditEvent.objects.get(kind=AuditEvent.Kind.CONFLICT_RESOLVED)
    assert event.details == {"conflict_id": conflict_id, "choice": "server"}
    assert event.device_id is not None
    body = response.json()
    assert body["status"] == "applied"
    assert body["item"]["has_conflict"] is False
    assert phone.client.get(f"/api/v1/items/{item_id}/").json()["content"] == "the dog sat"
    assert phone.client.get("/api/v1/conflicts/?status=open").json()["results"] == []
    again = resolve(phone, conflict_id, choice="server", base_version=body["item"]["version"])
    assert again.status_code == 409

    item_id, conflict_id, head = make_text_conflict(phone, laptop)
    merged = resolve(
        phone, conflict_id, choice="merged", content="the cat and dog", base_version=head
    )
    assert merged.status_code == 200
    assert phone.client.get(f"/api/v1/items/{item_id}/").json()["content"] == "the cat and dog"
    detail = phone.client.get(f"/api/v1/conflicts/{conflict_id}/").json()
    assert (detail["status"], detail["resolution"]) == ("resolved", "merged")
    assert detail["resolved_at"]


def test_resolve_with_a_stale_base_is_409_stale(phone, laptop):
    _, conflict_id, head = make_text_conflict(phone, laptop)
    response = resolve(phone, conflict_id, choice="incoming", base_version=head - 1)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "stale"
    assert_matches(schemas.ApiErrorSerializer, response.json())


def test_resolve_both_makes_a_conflicted_copy(phone, laptop):
    item_id, conflict_id, head = make_text_conflict(phone, laptop)
    response = resolve(phone, conflict_id, choice="both", base_version=head)
    assert response.status_code == 200, response.content
    copy = response.json()["copy"]
    assert copy["name"].startswith("pets.txt (conflicted copy, Laptop, ")
    assert phone.client.get(f"/api/v1/items/{copy['id']}/").json()["content"] == "the dog sat"
    assert phone.client.get(f"/api/v1/items/{item_id}/").json()["content"] == "the bird sat"


def test_resolving_an_auto_merge_undoes_it(phone, laptop):
    item_id = new_id()
    phone.push_one(put(item_id, "one two three"))
    laptop.push_one(put(item_id, "ONE two three", base=1))
    merged = phone.push_one(put(item_id, "one two THREE", base=1))
    assert merged["status"] == "merged"
    undo = resolve(laptop, merged["conflict_id"], choice="server", base_version=3)
    assert undo.status_code == 200
    assert phone.client.get(f"/api/v1/items/{item_id}/").json()["content"] == "ONE two three"


def test_resolve_validation(phone, laptop):
    _, conflict_id, head = make_text_conflict(phone, laptop)
    assert resolve(phone, conflict_id, choice="mine", base_version=head).status_code == 400
    assert resolve(phone, conflict_id, choice="merged", base_version=head).status_code == 400
    assert resolve(phone, conflict_id, choice="server").status_code == 400
    bad = resolve(phone, conflict_id, choice="merged", content="\x00", base_version=head)
    assert bad.status_code == 400


def test_numbers_beyond_the_database_range_are_4xx_not_500(phone):
    item = create(phone, kind="text", name="n", content="x")
    url = f"/api/v1/items/{item['id']}/"
    huge = 2**40
    assert phone.push_one(put(item["id"], "y", base=huge))["error"]["code"] == "invalid"
    assert phone.client.get(f"{url}versions/{huge}/").status_code == 404
    assert phone.client.get(f"{url}versions/{huge}/content").status_code == 404
    restore = phone.client.post(
        f"{url}restore", {"version": huge, "base_version": 1}, format="json"
    )
    assert restore.status_code == 400
    assert phone.client.delete(f"{url}?base_version={huge}").status_code == 400
    assert phone.client.get(f"/api/v1/items/?offset={huge * huge}").status_code == 400
    stale = phone.client.put(url, {"content": "z"}, format="json", HTTP_IF_MATCH=f'"v{huge}"')
    assert stale.status_code == 400
    activity = phone.client.put(
        "/api/v1/handoff/activity",
        {"item_id": item["id"], "item_version": huge},
        format="json",
    )
    assert activity.status_code == 400


@pytest.mark.parametrize("accept", ["application/octet-stream", "*/*", "application/json", None])
def test_content_downloads_whatever_accept_a_client_sends(phone, accept):
    """Generated Swift and Kotlin clients send the schema's `application/octet-stream`;
    the bytes come back in the item's own type, and errors in the JSON error shape."""
    item = create(phone, kind="text", name="n.txt", content="hello")
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    for url in (
        f"/api/v1/items/{item['id']}/content",
        f"/api/v1/items/{item['id']}/versions/1/content",
    ):
        response = phone.client.get(url, **headers)
        assert response.status_code == 200, response.content
        assert response.content == b"hello"
        assert response["ETag"] == '"v1"'
    missing = phone.client.get(f"/api/v1/items/{uuid.uuid4()}/content", **headers)
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/json"
    assert missing.json()["error"]["code"] == "not_found"
