"""Serializers that document the sync API's shapes in the OpenAPI schema. The views build
their payloads directly (see sync.changes and sync.selectors) for speed; these classes are
the schema's description of the same shapes, checked against real responses in
tests/test_schema.py."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers

from .changes import MAX_VERSION
from .models import Conflict, Item, Version

STATUSES = ["applied", "merged", "conflict", "unchanged", "rejected"]


class ItemSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=Item.Kind.choices)
    name = serializers.CharField()
    content_type = serializers.CharField()
    version = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    modified_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted = serializers.BooleanField()
    has_conflict = serializers.BooleanField()
    seq = serializers.CharField(help_text="a cursor at this item's change")
    device_id = serializers.UUIDField(allow_null=True, help_text="the last writer")


class ItemWithContentSerializer(ItemSerializer):
    content = serializers.CharField(required=False, help_text="text items")
    content_b64 = serializers.CharField(required=False, help_text="binary items, inline")
    content_url = serializers.CharField(required=False, help_text="binary items, large")


class ChangeErrorSerializer(serializers.Serializer):
    """Why one change of a push was rejected."""

    code = serializers.CharField()
    message = serializers.CharField()


class ErrorBodySerializer(ChangeErrorSerializer):
    details = serializers.DictField(
        help_text="more about the error, e.g. `fields` (per-field messages), `retry_after`, "
        "`result` (a rejected edit's ChangeResult); empty when there is nothing more"
    )


class ApiErrorSerializer(serializers.Serializer):
    """Every error the API answers: `{"error": {"code", "message", "details"}}`."""

    error = ErrorBodySerializer()


# What each error status means wherever it is answered (the codes are in docs/api.md).
ERROR_MEANINGS = {
    400: "`invalid` (per-field messages under `details.fields`) or `malformed_request`",
    401: "`not_authenticated`, or `device_revoked` for a browser whose device was revoked",
    403: "`permission_denied`: a browser session's unsafe request without its CSRF token",
    404: "`not_found`: no such id among the caller's own",
    410: "`expired`",
    412: "`precondition_failed`: If-Match names another version than the head",
    413: "`too_large`: the body is over `max_request_bytes` (or content over `max_item_bytes`)",
    415: "`unsupported_media_type`",
    428: '`precondition_required`: name the version edited (If-Match: "v<n>" or base_version)',
    429: "`too_many_attempts`: wait `Retry-After` seconds",
}


def errors(*statuses: int | tuple[int, str]) -> dict[int, OpenApiResponse]:
    """Error responses for `@extend_schema(responses=...)`, all in the `ApiError` shape: each
    status alone takes its meaning from ERROR_MEANINGS, `(status, "...")` says its own
    (409 always does: its meaning depends on the operation)."""
    responses = {}
    for entry in statuses:
        status, meaning = entry if isinstance(entry, tuple) else (entry, ERROR_MEANINGS[entry])
        responses[status] = OpenApiResponse(ApiErrorSerializer, description=meaning)
    return responses


# Every operation a signed-in device may call.
SIGNED_IN = (401,)
# ...that changes something: a browser session also needs its CSRF token.
SIGNED_IN_WRITE = (401, 403)
# ...that reads a JSON body: not JSON, not parsable, or too large.
JSON_BODY = (400, 413, 415)

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    required=True,
    response=[429],
    description="seconds until another attempt is counted",
)

# Strict edits of an item name the version they started from.
IF_MATCH = OpenApiParameter(
    "If-Match",
    {"type": "string", "pattern": r'^(W/)?"v[0-9]{1,10}"$'},
    OpenApiParameter.HEADER,
    description='the ETag of the version edited, `"v<version>"`: 412 `precondition_failed` '
    "if the head has moved on. Without it, send `base_version` (push semantics) or the "
    "call is 428 `precondition_required`.",
)


def etag(*statuses: int) -> OpenApiParameter:
    """The ETag response header: the item's head version after the call."""
    return OpenApiParameter(
        "ETag",
        {"type": "string", "pattern": r'^"v[0-9]+"$'},
        OpenApiParameter.HEADER,
        required=True,
        response=list(statuses),
        description='the item\'s version, `"v<version>"`: send it back as If-Match',
    )


def page_parameters(*, default: int, maximum: int) -> list[OpenApiParameter]:
    """limit/offset, as every list endpoint takes them; `next` in the answer is the URL of
    the following page, null on the last."""
    return [
        OpenApiParameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
            description=f"entries per page, 1..{maximum}",
        ),
        OpenApiParameter(
            "offset",
            {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0},
            description="entries to skip",
        ),
    ]


class ChangeResultSerializer(serializers.Serializer):
    """One change's outcome. `item` is null when the change was rejected, and `error`
    then says why; `copy` is the new item a resolve with choice `both` made."""

    change_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(choices=STATUSES)
    item = ItemSerializer(allow_null=True)
    conflict_id = serializers.UUIDField(required=False)
    error = ChangeErrorSerializer(required=False)
    copy = ItemSerializer(required=False)


class ChangeSerializer(serializers.Serializer):
    change_id = serializers.UUIDField()
    item_id = serializers.UUIDField()
    op = serializers.ChoiceField(choices=["put", "delete"])
    base_version = serializers.IntegerField(allow_null=True)
    kind = serializers.ChoiceField(choices=Item.Kind.choices, required=False)
    name = serializers.CharField(required=False)
    content_type = serializers.CharField(required=False)
    content = serializers.CharField(required=False)
    content_b64 = serializers.CharField(required=False)
    modified_at = serializers.DateTimeField(required=False)


class PushRequestSerializer(serializers.Serializer):
    changes = ChangeSerializer(many=True)


class PushResponseSerializer(serializers.Serializer):
    results = ChangeResultSerializer(many=True)
    cursor = serializers.CharField()


class ChangesPageSerializer(serializers.Serializer):
    changes = ItemWithContentSerializer(many=True)
    cursor = serializers.CharField()
    has_more = serializers.BooleanField()


class SyncStatusSerializer(serializers.Serializer):
    cursor = serializers.CharField()
    behind = serializers.IntegerField()


class ItemListSerializer(serializers.Serializer):
    results = ItemSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class ItemWriteSerializer(serializers.Serializer):
    base_version = serializers.IntegerField(required=False, help_text="or If-Match")
    kind = serializers.ChoiceField(choices=Item.Kind.choices, required=False)
    name = serializers.CharField(required=False)
    content_type = serializers.CharField(required=False)
    content = serializers.CharField(required=False)
    content_b64 = serializers.CharField(required=False)
    modified_at = serializers.DateTimeField(required=False)


class ItemCreateSerializer(ItemWriteSerializer):
    id = serializers.UUIDField(required=False, help_text="chosen by the client, or generated")
    base_version = None


@extend_schema_field({"type": "string", "format": "binary"})
class UploadField(serializers.FileField):
    """A file part of a multipart body."""


class ItemUploadSerializer(serializers.Serializer):
    """A new item from a file, as multipart/form-data. `kind` is binary unless given;
    `name` and `content_type` default to the file part's."""

    file = UploadField()
    id = serializers.UUIDField(required=False, help_text="chosen by the client, or generated")
    kind = serializers.ChoiceField(choices=Item.Kind.choices, required=False)
    name = serializers.CharField(required=False)
    content_type = serializers.CharField(required=False)
    modified_at = serializers.DateTimeField(required=False)


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField(allow_null=True)
    parent = serializers.IntegerField(allow_null=True)
    merge_parent = serializers.IntegerField(allow_null=True)
    origin = serializers.ChoiceField(choices=Version.Origin.choices)
    name = serializers.CharField()
    content_type = serializers.CharField()
    deleted = serializers.BooleanField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    device_id = serializers.UUIDField(allow_null=True)
    modified_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class VersionWithContentSerializer(VersionSerializer):
    device_name = serializers.CharField(required=False, allow_null=True)
    content = serializers.CharField(required=False)
    content_b64 = serializers.CharField(required=False)
    content_url = serializers.CharField(required=False)


class VersionListSerializer(serializers.Serializer):
    results = VersionSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class ConflictSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    item_id = serializers.UUIDField()
    item_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Item.Kind.choices)
    status = serializers.ChoiceField(choices=Conflict.Status.choices)
    reason = serializers.ChoiceField(choices=Conflict.Reason.choices)
    resolution = serializers.ChoiceField(choices=Conflict.Resolution.choices, allow_null=True)
    resolved_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class HunkSerializer(serializers.Serializer):
    base_start = serializers.IntegerField()
    base_end = serializers.IntegerField()
    base = serializers.CharField()
    head = serializers.CharField()
    incoming = serializers.CharField()


class ConflictDetailSerializer(ConflictSerializer):
    base = VersionWithContentSerializer(allow_null=True)
    server = VersionWithContentSerializer()
    incoming = VersionWithContentSerializer()
    head_version = serializers.IntegerField()
    hunks = HunkSerializer(many=True)


class ConflictListSerializer(serializers.Serializer):
    results = ConflictSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class RestoreInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, max_value=MAX_VERSION)
    base_version = serializers.IntegerField(min_value=0, max_value=MAX_VERSION)


class ResolveInputSerializer(serializers.Serializer):
    choice = serializers.ChoiceField(choices=Conflict.Resolution.choices)
    base_version = serializers.IntegerField(min_value=0, max_value=MAX_VERSION)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
