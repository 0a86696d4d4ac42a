"""Handoff endpoints: activities, device switches, offers, and the user's setting."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import DeviceSerializer
from cloudsaves.paging import Page
from sync.changes import MAX_VERSION
from sync.schemas import (
    JSON_BODY,
    SIGNED_IN,
    SIGNED_IN_WRITE,
    ItemSerializer,
    ItemWithContentSerializer,
    errors,
    page_parameters,
)
from sync.selectors import item_with_content

from . import selectors, services
from .models import HandoffSettings, Offer


class OfferSerializer(serializers.Serializer):
    """An offer to continue on `target_device` where the user was on `source_device`
    (payloads are built in handoff.selectors)."""

    id = serializers.UUIDField()
    source_device = DeviceSerializer()
    target_device = DeviceSerializer()
    item = ItemSerializer()
    item_version = serializers.IntegerField()
    state = serializers.DictField(help_text="the app's own place in the item: caret, scroll...")
    cursor = serializers.CharField(help_text="pull up to here before opening the item")
    origin = serializers.ChoiceField(choices=Offer.Origin.choices)
    status = serializers.ChoiceField(choices=Offer.Status.choices)
    handoff_mode = serializers.ChoiceField(choices=HandoffSettings.Mode.choices)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class OfferListSerializer(serializers.Serializer):
    results = OfferSerializer(many=True)
    next = serializers.URLField(allow_null=True)


class OfferAcceptedSerializer(serializers.Serializer):
    offer = OfferSerializer()
    item = ItemWithContentSerializer()
    state = serializers.DictField()


@extend_schema_field({"type": "object", "additionalProperties": {}})
class StateField(serializers.DictField):
    """A JSON object. Null is taken as no state too, but the schema offers only the object,
    so generated clients get a plain optional map rather than an object-or-null wrapper."""

    def validate_empty_values(self, data):
        if data is None:
            return True, None
        return super().validate_empty_values(data)


class ActivityInputSerializer(serializers.Serializer):
    item_id = serializers.UUIDField()
    item_version = serializers.IntegerField(min_value=0, max_value=MAX_VERSION)
    state = StateField(
        required=False,
        help_text="the app's own place in the item (caret, scroll...): at most 4 KiB of JSON",
    )


class ActivitySerializer(serializers.Serializer):
    item_id = serializers.UUIDField()
    item_name = serializers.CharField()
    item_version = serializers.IntegerField()
    state = serializers.DictField()
    updated_at = serializers.DateTimeField()


class SettingsSerializer(serializers.Serializer):
    handoff_mode = serializers.ChoiceField(choices=HandoffSettings.Mode.choices)


# Accepting or declining an offer: one of the caller's, still pending, not expired.
OFFER_ANSWER_ERRORS = errors(
    *SIGNED_IN_WRITE,
    404,
    (409, "`not_pending`: the offer was answered or superseded"),
    410,
)


def _offer(request: Request, offer: Offer) -> dict:
    return selectors.offer_dict(offer, viewer_id=request.auth.id)


class ActivityApi(APIView):
    @extend_schema(
        request=ActivityInputSerializer,
        responses={
            200: ActivitySerializer,
            **errors(
                *SIGNED_IN_WRITE,
                *JSON_BODY,
                (404, "`not_found`: no such item"),
                (409, "`push_pending_first`: the item's head is newer than item_version"),
                (413, "`too_large`: the body, or a state over 4 KiB"),
            ),
        },
    )
    def put(self, request: Request) -> Response:
        body = ActivityInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        activity = services.activity_set(
            user=request.user,
            device=request.auth,
            item_id=body.validated_data["item_id"],
            item_version=body.validated_data["item_version"],
            state=body.validated_data.get("state"),
        )
        return Response(selectors.activity_dict(activity))

    @extend_schema(request=None, responses={204: None, **errors(*SIGNED_IN_WRITE)})
    def delete(self, request: Request) -> Response:
        services.activity_clear(user=request.user, device=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ActiveApi(APIView):
    operation_kind = "action"

    @extend_schema(
        request=None,
        responses={
            200: OfferSerializer,
            204: OpenApiResponse(description="nothing to continue"),
            **errors(*SIGNED_IN_WRITE),
        },
    )
    def post(self, request: Request) -> Response:
        offer = services.device_active(user=request.user, device=request.auth)
        if offer is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(_offer(request, offer))


class SendApi(APIView):
    operation_kind = "action"

    class HandoffSendSerializer(serializers.Serializer):
        device_id = serializers.UUIDField(help_text="the device to continue on")

    @extend_schema(
        request=HandoffSendSerializer,
        responses={
            201: OfferSerializer,
            **errors(
                *SIGNED_IN_WRITE,
                *JSON_BODY,
                (404, "`not_found`: no such device"),
                (409, "`handoff_off`, or `no_activity` to send"),
            ),
        },
    )
    def post(self, request: Request) -> Response:
        body = self.HandoffSendSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        offer = services.offer_send(
            user=request.user,
            device=request.auth,
            target_device_id=body.validated_data["device_id"],
        )
        return Response(_offer(request, offer), status=status.HTTP_201_CREATED)


class OfferListApi(APIView):
    operation_kind = "list"

    @extend_schema(
        parameters=page_parameters(default=100, maximum=500),
        responses={200: OfferListSerializer, **errors(400, *SIGNED_IN)},
    )
    def get(self, request: Request) -> Response:
        """The offers waiting for this device to answer, newest first."""
        page = Page(request, default=100, maximum=500)
        offers = selectors.pending_offers(user=request.user, device=request.auth)[page.window]
        return Response(page.body(offers, lambda offer: _offer(request, offer)))


class OfferAcceptApi(APIView):
    operation_kind = "action"

    @extend_schema(request=None, responses={200: OfferAcceptedSerializer, **OFFER_ANSWER_ERRORS})
    def post(self, request: Request, offer_id: uuid.UUID) -> Response:
        offer = services.offer_accept(user=request.user, device=request.auth, offer_id=offer_id)
        payload = _offer(request, offer)
        # The item at the head now: at least as new as the offer's cursor, never stale.
        item = item_with_content(user=request.user, item_id=offer.item.item_id)
        return Response({"offer": payload, "item": item, "state": payload["state"]})


class OfferDeclineApi(APIView):
    operation_kind = "action"

    @extend_schema(request=None, responses={200: OfferSerializer, **OFFER_ANSWER_ERRORS})
    def post(self, request: Request, offer_id: uuid.UUID) -> Response:
        offer = services.offer_decline(user=request.user, device=request.auth, offer_id=offer_id)
        return Response(_offer(request, offer))


class SettingsApi(APIView):
    @extend_schema(responses={200: SettingsSerializer, **errors(*SIGNED_IN)})
    def get(self, request: Request) -> Response:
        return Response({"handoff_mode": services.handoff_mode(request.user)})

    @extend_schema(
        request=SettingsSerializer,
        responses={200: SettingsSerializer, **errors(*SIGNED_IN_WRITE, *JSON_BODY)},
    )
    def patch(self, request: Request) -> Response:
        body = SettingsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        row = services.settings_update(user=request.user, **body.validated_data)
        return Response({"handoff_mode": row.handoff_mode})
