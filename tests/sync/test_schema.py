"""The OpenAPI schema is generated from the code, validates without warnings, and
describes the payloads the API really sends."""

import pytest
from django.core.management import call_command
from rest_framework import serializers

from sync import schemas

from .conftest import new_id, put

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/api/v1/sync/push", "/api/v1/sync/changes", "/api/v1/conflicts/{conflict_id}/"):
        assert path in text


def test_docs_page_is_served_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"cdn." not in page.content
    assert b"/static/drf_spectacular_sidecar/" in page.content


def assert_matches(serializer_class, payload):
    fields = serializer_class().fields
    assert set(payload) <= set(fields), set(payload) - set(fields)
    required = {name for name, f in fields.items() if f.required}
    assert required <= set(payload), required - set(payload)
    for name, value in payload.items():
        field = fields[name]
        if isinstance(field, serializers.ListSerializer) and value:
            for entry in value:
                assert_matches(type(field.child), entry)
        elif isinstance(field, serializers.Serializer) and value is not None:
            assert_matches(type(field), value)


def test_real_payloads_match_the_documented_shapes(phone, laptop):
    item_id = new_id()
    pushed = phone.push(put(item_id, "a b c"))
    assert_matches(schemas.PushResponseSerializer, pushed)
    laptop.push_one(put(item_id, "a B c", base=1))
    conflict = phone.push_one(put(item_id, "a X c", base=1))
    assert_matches(schemas.ChangeResultSerializer, conflict)
    assert_matches(schemas.ChangesPageSerializer, phone.pull())
    detail = phone.client.get(f"/api/v1/conflicts/{conflict['conflict_id']}/").json()
    assert_matches(schemas.ConflictDetailSerializer, detail)
    assert_matches(schemas.ConflictListSerializer, phone.client.get("/api/v1/conflicts/").json())
    assert_matches(schemas.ItemListSerializer, phone.client.get("/api/v1/items/").json())
    versions = phone.client.get(f"/api/v1/items/{item_id}/versions/").json()
    assert_matches(schemas.VersionListSerializer, versions)
    one = phone.client.get(f"/api/v1/items/{item_id}/versions/1/").json()
    assert_matches(schemas.VersionWithContentSerializer, one)
    status = phone.client.get("/api/v1/sync/status").json()
    assert_matches(schemas.SyncStatusSerializer, status)


def test_resolve_documents_its_409_as_the_error_shape(tmp_path):
    import yaml

    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(out))
    schema = yaml.safe_load(out.read_text())
    responses = schema["paths"]["/api/v1/conflicts/{conflict_id}/resolve"]["post"]["responses"]
    assert responses["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ApiError"
    }
