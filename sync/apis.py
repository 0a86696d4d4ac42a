"""Sync, item, version and conflict endpoints: validate, call one service or selector,
serialize."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cloudsaves.errors import ApplicationError, InvalidInput
from cloudsaves.paging import Page
from cloudsaves.paging import bounded_int as _int
from cloudsaves.parsers import BoundedJSONParser

from . import keys, schemas, selectors, services
from .changes import MAX_VERSION, Rejected, encode_cursor, header_safe, item_dict, valid_text
from .models import Conflict, Item

RESULT_RESPONSES = {
    200: schemas.ChangeResultSerializer,
    409: OpenApiResponse(schemas.ChangeResultSerializer, description="a conflict: the Result"),
}
# An edit of an item: push semantics with base_version, strict with If-Match, and a
# rejected change as the error shape (its Result under `details.result`).
ITEM_EDIT_ERRORS = schemas.errors(*schemas.SIGNED_IN_WRITE, *schemas.JSON_BODY, 404, 412, 428)
# An edit of one item names the version it started from and answers the new head's ETag.
EDIT_HEADERS = [schemas.IF_MATCH, schemas.etag(200, 409)]
REJECTED_STATUS = {"invalid": 400, "bad_base_version": 400, "too_large": 413, "not_found": 404}


class AnyAcceptNegotiation(DefaultContentNegotiation):
    """Raw content answers in the item's own type whatever Accept asks (generated clients
    send the schema's `application/octet-stream`, browsers `*/*`); only errors go through
    a renderer, and those are JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


class PreconditionRequired(ApplicationError):
    status_code = 428
    code = "precondition_required"
    default_message = 'Name the version you edited: If-Match: "v<version>" or base_version.'


_ETAG = re.compile(r'^\s*(?:W/)?"v(\d{1,10})"\s*$')


def _if_match(request: Request) -> int | None:
    header = request.headers.get("If-Match")
    if header is None:
        return None
    match = _ETAG.match(header)
    if not match:
        raise InvalidInput('If-Match must be an ETag of this API, like "v3".')
    return int(match.group(1))


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.")
    return data


ITEM_FIELDS = frozenset({"kind", "name", "content_type", "content", "content_b64", "modified_at"})


def _item_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The parts of a REST item body that a change carries."""
    return {k: v for k, v in body.items() if k in ITEM_FIELDS}


def _result_response(result: dict[str, Any]) -> Response:
    """Push semantics over REST: 200 with the Result, 409 with it for a conflict, and a
    rejected change as an error whose details carry the Result."""
    headers = {}
    if result.get("item"):
        headers["ETag"] = f'"v{result["item"]["version"]}"'
    if result["status"] == "rejected":
        error = result["error"]
        raise ApplicationError(
            error["message"],
            code=error["code"],
            status_code=REJECTED_STATUS.get(error["code"], 400),
            details={"result": result},
        )
    code = status.HTTP_409_CONFLICT if result["status"] == "conflict" else status.HTTP_200_OK
    return Response(result, status=code, headers=headers)


# -- push and pull ----------------------------------------------------------------------------


class PushApi(APIView):
    operation_kind = "action"

    @extend_schema(
        request=schemas.PushRequestSerializer,
        responses={
            200: schemas.PushResponseSerializer,
            **schemas.errors(
                *schemas.SIGNED_IN_WRITE,
                *schemas.JSON_BODY,
                (413, "`too_large`, or `too_many_changes` over `max_batch_changes`"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = _body(request)
        changes = body.get("changes")
        if not isinstance(changes, list):
            raise InvalidInput("'changes' must be a list of changes.")
        results, seq = services.changes_push(
            user=request.user, device=request.auth, changes=changes
        )
        return Response({"results": results, "cursor": encode_cursor(request.user.id, seq)})


class ChangesApi(APIView):
    operation_kind = "list"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "since", str, description="the cursor of the last page; empty from scratch"
            ),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 500},
                description="changes per page, 1..1000",
            ),
        ],
        responses={
            200: schemas.ChangesPageSerializer,
            **schemas.errors(
                (400, "`bad_cursor`, or `invalid` for a limit out of range"),
                *schemas.SIGNED_IN,
                (409, "`resync_required`: pull from scratch"),
            ),
        },
    )
    def get(self, request: Request) -> Response:
        limit = _int(request.query_params.get("limit", 500), "limit", low=1, high=1000)
        return Response(
            selectors.changes_since(
                user=request.user, since=request.query_params.get("since"), limit=limit
            )
        )


class StatusApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("since", str)],
        responses={
            200: schemas.SyncStatusSerializer,
            **schemas.errors(
                (400, "`bad_cursor`"),
                *schemas.SIGNED_IN,
                (409, "`resync_required`: pull from scratch"),
            ),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(
            selectors.sync_status(user=request.user, since=request.query_params.get("since"))
        )


# -- items ------------------------------------------------------------------------------------


def valid_query(value: str | None) -> str | None:
    """A search string: text a database can compare (no U+0000, no lone surrogates)."""
    if value is None:
        return None
    try:
        return valid_text(value, "q")
    except Rejected as exc:
        raise InvalidInput(exc.message) from exc


def _flag(value: str | None, name: str) -> bool | None:
    if value in (None, "", "all"):
        return None
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(f"{name} must be true, false or all.")


class ItemListApi(APIView):
    parser_classes = [BoundedJSONParser, MultiPartParser]
    operation_kind = "list"

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, enum=["text", "binary"]),
            OpenApiParameter(
                "deleted",
                str,
                enum=["false", "true", "all"],
                description="tombstones: without (default), only, or as well",
            ),
            OpenApiParameter("has_conflict", bool),
            OpenApiParameter("q", str, description="name contains, ignoring case"),
            *schemas.page_parameters(default=100, maximum=500),
        ],
        responses={200: schemas.ItemListSerializer, **schemas.errors(400, *schemas.SIGNED_IN)},
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        kind = params.get("kind") or None
        if kind is not None and kind not in Item.Kind.values:
            raise InvalidInput("kind must be text or binary.")
        deleted = _flag(params.get("deleted", "false"), "deleted")
        page = Page(request, default=100, maximum=500)
        rows = selectors.item_list(
            user=request.user,
            kind=kind,
            deleted=deleted,
            has_conflict=_flag(params.get("has_conflict"), "has_conflict"),
            q=valid_query(params.get("q")) or None,
            offset=page.offset,
            limit=page.limit + 1,
        )
        return Response(page.body(rows, item_dict))

    @extend_schema(
        request={
            "application/json": schemas.ItemCreateSerializer,
            "multipart/form-data": schemas.ItemUploadSerializer,
        },
        parameters=[schemas.etag(201)],
        responses={
            201: schemas.ItemSerializer,
            **schemas.errors(
                *schemas.SIGNED_IN_WRITE,
                *schemas.JSON_BODY,
                (409, "`exists`: an item with this id exists"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        data = None
        if request.content_type.startswith("multipart/") and "file" not in request.FILES:
            # A body cut short or without its file part parses as an empty form: creating
            # an empty item from it would lose what the client meant to upload.
            raise ApplicationError(
                "The multipart body has no complete 'file' part.", code="malformed_request"
            )
        if "file" in request.FILES:
            upload = request.FILES["file"]
            raw = {
                "kind": request.data.get("kind") or "binary",
                "name": request.data.get("name") or upload.name,
                "content_type": request.data.get("content_type")
                or upload.content_type
                or "application/octet-stream",
            }
            if request.data.get("id"):
                raw["item_id"] = request.data["id"]
            if request.data.get("modified_at"):
                raw["modified_at"] = request.data["modified_at"]
            content = upload.read()
            if raw["kind"] == "text":
                try:
                    raw["content"] = content.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InvalidInput("A text file must be UTF-8.") from exc
            else:
                data = content
        else:
            body = _body(request)
            raw = _item_fields(body)
            if body.get("id") is not None:
                raw["item_id"] = body["id"]
        raw.setdefault("item_id", str(uuid.uuid4()))
        raw.update(op="put", base_version=None)
        result = services.item_write(
            user=request.user, device=request.auth, raw=raw, data=data, create_only=True
        )
        response = _result_response(result)
        response.status_code = status.HTTP_201_CREATED
        response.data = result["item"]
        return response


class ItemDetailApi(APIView):
    @extend_schema(
        parameters=[schemas.etag(200)],
        responses={
            200: schemas.ItemWithContentSerializer,
            **schemas.errors(*schemas.SIGNED_IN, 404),
        },
    )
    def get(self, request: Request, item_id: uuid.UUID) -> Response:
        data = selectors.item_with_content(user=request.user, item_id=item_id)
        return Response(data, headers={"ETag": f'"v{data["version"]}"'})

    def _write(self, request: Request, item_id: uuid.UUID, *, partial: bool) -> Response:
        body = _body(request)
        if_match = _if_match(request)
        if if_match is None and "base_version" not in body:
            raise PreconditionRequired()
        if not partial and body.get("content") is None and body.get("content_b64") is None:
            raise InvalidInput("PUT replaces the content: send content (or use PATCH).")
        raw = _item_fields(body)
        raw.update(item_id=str(item_id), op="put", base_version=body.get("base_version"))
        result = services.item_write(
            user=request.user, device=request.auth, raw=raw, if_match=if_match
        )
        return _result_response(result)

    @extend_schema(
        parameters=EDIT_HEADERS,
        request=schemas.ItemWriteSerializer,
        responses={**RESULT_RESPONSES, **ITEM_EDIT_ERRORS},
    )
    def put(self, request: Request, item_id: uuid.UUID) -> Response:
        return self._write(request, item_id, partial=False)

    @extend_schema(
        parameters=EDIT_HEADERS,
        request=schemas.ItemWriteSerializer,
        responses={**RESULT_RESPONSES, **ITEM_EDIT_ERRORS},
    )
    def patch(self, request: Request, item_id: uuid.UUID) -> Response:
        return self._write(request, item_id, partial=True)

    @extend_schema(
        parameters=[
            *EDIT_HEADERS,
            OpenApiParameter(
                "base_version",
                {"type": "integer", "minimum": 0, "maximum": MAX_VERSION},
                description="push semantics, instead of If-Match",
            ),
        ],
        request=None,
        responses={**RESULT_RESPONSES, **ITEM_EDIT_ERRORS},
    )
    def delete(self, request: Request, item_id: uuid.UUID) -> Response:
        if_match = _if_match(request)
        base = request.query_params.get("base_version")
        if base is None and request.body:
            base = _body(request).get("base_version")
        if if_match is None and base is None:
            raise PreconditionRequired()
        raw = {"item_id": str(item_id), "op": "delete"}
        if base is not None:
            raw["base_version"] = _int(base, "base_version", high=MAX_VERSION)
        result = services.item_write(
            user=request.user, device=request.auth, raw=raw, if_match=if_match
        )
        return _result_response(result)


def raw_content_response(item: Item, version, content: bytes) -> HttpResponse:
    content_type = version.content_type or item.content_type
    if not header_safe(content_type):  # stored before content types were checked
        content_type = "application/octet-stream"
    response = HttpResponse(content, content_type=content_type)
    filename = version.name or item.name or str(item.item_id)
    # Always a download, never rendered in our origin: user content could be HTML.
    response["Content-Disposition"] = content_disposition_header(True, filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["ETag"] = f'"v{version.number}"' if version.number else ""
    return response


class ItemContentApi(APIView):
    parser_classes: list = []
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        parameters=[schemas.etag(200)],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **schemas.errors(*schemas.SIGNED_IN, (404, "`not_found`, or `deleted`")),
        },
    )
    def get(self, request: Request, item_id: uuid.UUID) -> HttpResponse:
        item = selectors.item_get(user=request.user, item_id=item_id)
        if item.deleted:
            raise ApplicationError("The item is deleted.", code="deleted", status_code=404)
        content = selectors.version_content(user=request.user, item=item, version=item.head)
        return raw_content_response(item, item.head, content)

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            *EDIT_HEADERS,
            OpenApiParameter(
                "X-Base-Version",
                {"type": "integer", "minimum": 0, "maximum": MAX_VERSION},
                OpenApiParameter.HEADER,
                description="push semantics, instead of If-Match",
            ),
            OpenApiParameter(
                "content_type",
                {"type": "string", "maxLength": 255},
                description="a new content type for the item; without it the item keeps "
                "its own, whatever the upload's Content-Type header says",
            ),
        ],
        responses={
            **RESULT_RESPONSES,
            **schemas.errors(*schemas.SIGNED_IN_WRITE, 400, 404, 412, 413, 428),
        },
    )
    def put(self, request: Request, item_id: uuid.UUID) -> Response:
        if_match = _if_match(request)
        base_header = request.headers.get("X-Base-Version")
        if if_match is None and base_header is None:
            raise PreconditionRequired()
        item = selectors.item_get(user=request.user, item_id=item_id)
        body = request.body
        raw: dict[str, Any] = {"item_id": str(item_id), "op": "put"}
        if base_header is not None:
            raw["base_version"] = _int(base_header, "X-Base-Version", high=MAX_VERSION)
        # The upload's own Content-Type only says how the body travels (generated clients
        # always send application/octet-stream): the item's type changes when asked.
        content_type = request.query_params.get("content_type")
        if content_type:
            raw["content_type"] = content_type
        data = None
        if item.kind == Item.Kind.TEXT:
            try:
                raw["content"] = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput("A text item's content must be UTF-8.") from exc
        else:
            data = body
        result = services.item_write(
            user=request.user, device=request.auth, raw=raw, data=data, if_match=if_match
        )
        return _result_response(result)


class ItemRestoreApi(APIView):
    operation_kind = "action"

    @extend_schema(
        parameters=[schemas.etag(200)],
        request=schemas.RestoreInputSerializer,
        responses={
            200: schemas.ChangeResultSerializer,
            **schemas.errors(
                *schemas.SIGNED_IN_WRITE,
                *schemas.JSON_BODY,
                404,
                (409, "`stale`: base_version is no longer the head"),
            ),
        },
    )
    def post(self, request: Request, item_id: uuid.UUID) -> Response:
        body = schemas.RestoreInputSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        result = services.item_restore(
            user=request.user, device=request.auth, item_id=item_id, **body.validated_data
        )
        return _result_response(result)


class VersionListApi(APIView):
    operation_kind = "list"

    @extend_schema(
        parameters=schemas.page_parameters(default=100, maximum=500),
        responses={
            200: schemas.VersionListSerializer,
            **schemas.errors(400, *schemas.SIGNED_IN, 404),
        },
    )
    def get(self, request: Request, item_id: uuid.UUID) -> Response:
        page = Page(request, default=100, maximum=500)
        versions = selectors.version_list(user=request.user, item_id=item_id, window=page.window)
        return Response(page.body(versions, selectors.version_dict))


class VersionDetailApi(APIView):
    @extend_schema(
        responses={
            200: schemas.VersionWithContentSerializer,
            **schemas.errors(*schemas.SIGNED_IN, 404),
        }
    )
    def get(self, request: Request, item_id: uuid.UUID, number: int) -> Response:
        item, version = selectors.version_get(user=request.user, item_id=item_id, number=number)
        return Response(
            selectors.version_with_content(
                version, item=item, key=keys.data_key(request.user.id), device_names={}
            )
        )


class VersionContentApi(APIView):
    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        parameters=[schemas.etag(200)],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **schemas.errors(*schemas.SIGNED_IN, 404),
        },
    )
    def get(self, request: Request, item_id: uuid.UUID, number: int) -> HttpResponse:
        item, version = selectors.version_get(user=request.user, item_id=item_id, number=number)
        content = selectors.version_content(user=request.user, item=item, version=version)
        return raw_content_response(item, version, content)


# -- conflicts --------------------------------------------------------------------------------


class ConflictListApi(APIView):
    operation_kind = "list"

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=Conflict.Status.values),
            *schemas.page_parameters(default=100, maximum=500),
        ],
        responses={
            200: schemas.ConflictListSerializer,
            **schemas.errors(400, *schemas.SIGNED_IN),
        },
    )
    def get(self, request: Request) -> Response:
        status_filter = request.query_params.get("status") or None
        if status_filter is not None and status_filter not in Conflict.Status.values:
            raise InvalidInput("status must be open, auto_resolved or resolved.")
        page = Page(request, default=100, maximum=500)
        conflicts = selectors.conflict_list(
            user=request.user, status=status_filter, window=page.window
        )
        return Response(page.body(conflicts, selectors.conflict_summary))


class ConflictDetailApi(APIView):
    @extend_schema(
        responses={
            200: schemas.ConflictDetailSerializer,
            **schemas.errors(*schemas.SIGNED_IN, 404),
        }
    )
    def get(self, request: Request, conflict_id: uuid.UUID) -> Response:
        return Response(selectors.conflict_detail(user=request.user, conflict_id=conflict_id))


class ConflictResolveApi(APIView):
    operation_kind = "action"

    @extend_schema(
        parameters=[schemas.etag(200)],
        request=schemas.ResolveInputSerializer,
        # A resolve never ends in a new conflict: its 409 is the item having moved on
        # (`stale`) or the conflict being resolved already (`already_resolved`).
        responses={
            200: schemas.ChangeResultSerializer,
            **schemas.errors(
                *schemas.SIGNED_IN_WRITE,
                *schemas.JSON_BODY,
                404,
                (409, "`stale` or `already_resolved`"),
            ),
        },
    )
    def post(self, request: Request, conflict_id: uuid.UUID) -> Response:
        body = schemas.ResolveInputSerializer(data=_body(request))
        body.is_valid(raise_exception=True)
        content = body.validated_data.get("content")
        if content is not None:
            try:
                valid_text(content)
            except Rejected as exc:
                raise InvalidInput(exc.message) from exc
        result = services.conflict_resolve(
            user=request.user,
            device=request.auth,
            conflict_id=conflict_id,
            **body.validated_data,
        )
        return _result_response(result)
