"""Auth and device endpoints: thin views that validate, call one service, serialize."""

from __future__ import annotations

import uuid

from allauth.account.adapter import get_adapter
from django import forms
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cloudsaves.errors import InvalidCredentials, TooManyAttempts
from cloudsaves.paging import Page
from sync import keys
from sync.schemas import (
    JSON_BODY,
    RETRY_AFTER,
    SIGNED_IN,
    SIGNED_IN_WRITE,
    errors,
    page_parameters,
)

from . import selectors, services
from .adapter import retry_after
from .audit import Kind as AuditKind
from .audit import audit_record
from .models import Device


class DeviceActivitySerializer(serializers.Serializer):
    """What a device has open now, as the handoff app publishes it."""

    item_id = serializers.UUIDField()
    item_name = serializers.CharField()
    updated_at = serializers.DateTimeField()


class DeviceSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Device.Kind.choices)
    platform = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    online = serializers.BooleanField()
    current = serializers.BooleanField(help_text="the device making this request")
    activity = DeviceActivitySerializer(allow_null=True, help_text="null: nothing open")


def device_payload(
    device: Device, *, current_device_id: uuid.UUID | None, extras: dict | None = None
) -> dict:
    data = {
        "id": str(device.id),
        "name": device.name,
        "kind": device.kind,
        "platform": device.platform,
        "created_at": device.created_at,
        "last_seen_at": device.last_seen_at,
        "online": bool(getattr(device, "online", False)),
        "current": device.id == current_device_id,
        "activity": None,
    }
    data.update(extras or {})
    return DeviceSerializer(data).data


def devices_payload(devices: list[Device], *, user, current_device_id) -> list[dict]:
    extras = selectors.device_extras(user=user, devices=devices)
    if devices:
        key = keys.data_key(user.id)  # their names are sealed: one key opens them all
        for device in devices:
            device.use_key(key)
    return [
        device_payload(d, current_device_id=current_device_id, extras=extras.get(d.id))
        for d in devices
    ]


def current_device(request: Request) -> Device:
    return request.auth


class TokenCreateApi(APIView):
    """Sign an app in: email + password + a description of the device → a bearer token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class NewDeviceSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=Device.Kind.choices)
        platform = serializers.CharField(max_length=100, required=False, allow_blank=True)

    class CredentialsSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {
                "email": serializers.EmailField(max_length=254),
                "password": serializers.CharField(max_length=4096),
                "device": NewDeviceSerializer(),
            },
        ),
        responses={
            201: inline_serializer(
                "TokenResponse",
                {
                    "device": DeviceSerializer(),
                    "token": serializers.CharField(help_text="send as Authorization: Bearer"),
                },
            ),
            **errors(
                *JSON_BODY,
                (401, "`invalid_credentials`: unknown email or wrong password, alike"),
                429,
            ),
        },
        parameters=[RETRY_AFTER],
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = request.data if isinstance(request.data, dict) else {}
        credentials = self.CredentialsSerializer(data=data)
        credentials.is_valid(raise_exception=True)
        device_input = self.NewDeviceSerializer(data=data.get("device"))
        if not device_input.is_valid():
            raise serializers.ValidationError({"device": device_input.errors})
        email = credentials.validated_data["email"].lower()
        try:
            user = get_adapter(request._request).authenticate(
                request._request, email=email, password=credentials.validated_data["password"]
            )
        except forms.ValidationError as exc:
            wait = retry_after(request._request) or 60
            raise TooManyAttempts(
                f"Too many failed attempts. Try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
                details={"retry_after": wait},
            ) from exc
        if user is None or not user.is_active:
            raise InvalidCredentials()
        device, token = services.device_register(user=user, **device_input.validated_data)
        audit_record(AuditKind.TOKEN_ISSUED, user=user, device=device)
        device.online = False
        return Response(
            {"device": device_payload(device, current_device_id=device.id), "token": token},
            status=status.HTTP_201_CREATED,
        )


class WsTicketApi(APIView):
    @extend_schema(
        request=None,
        responses={
            201: inline_serializer(
                "WsTicket",
                {"ticket": serializers.CharField(), "expires_in": serializers.IntegerField()},
            ),
            **errors(*SIGNED_IN_WRITE),
        },
    )
    def post(self, request: Request) -> Response:
        ticket, ttl = services.ws_ticket_issue(device=current_device(request))
        return Response({"ticket": ticket, "expires_in": ttl}, status=status.HTTP_201_CREATED)


class DeviceListApi(APIView):
    operation_kind = "list"

    @extend_schema(
        parameters=page_parameters(default=100, maximum=500),
        responses={
            200: inline_serializer(
                "DeviceList",
                {
                    "results": DeviceSerializer(many=True),
                    "next": serializers.URLField(allow_null=True),
                },
            ),
            **errors(400, *SIGNED_IN),
        },
    )
    def get(self, request: Request) -> Response:
        page = Page(request, default=100, maximum=500)
        devices = list(selectors.device_list(user=request.user)[page.window])
        results = devices_payload(
            devices, user=request.user, current_device_id=current_device(request).id
        )
        return Response(page.body(results))


class DeviceDetailApi(APIView):
    class DeviceUpdateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)

    def _payload(self, request: Request, device: Device) -> dict:
        return devices_payload(
            [device], user=request.user, current_device_id=current_device(request).id
        )[0]

    @extend_schema(responses={200: DeviceSerializer, **errors(*SIGNED_IN, 404)})
    def get(self, request: Request, device_id: uuid.UUID) -> Response:
        device = selectors.device_get(user=request.user, device_id=device_id)
        return Response(self._payload(request, device))

    @extend_schema(
        request=DeviceUpdateSerializer,
        responses={200: DeviceSerializer, **errors(*SIGNED_IN_WRITE, *JSON_BODY, 404)},
    )
    def patch(self, request: Request, device_id: uuid.UUID) -> Response:
        body = self.DeviceUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.device_rename(
            user=request.user, device_id=device_id, name=body.validated_data["name"]
        )
        device = selectors.device_get(user=request.user, device_id=device_id)
        return Response(self._payload(request, device))

    @extend_schema(request=None, responses={204: None, **errors(*SIGNED_IN_WRITE, 404)})
    def delete(self, request: Request, device_id: uuid.UUID) -> Response:
        services.device_revoke(user=request.user, device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
