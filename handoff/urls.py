from django.urls import path

from . import apis

urlpatterns = [
    path("handoff/activity", apis.ActivityApi.as_view(), name="handoff-activity"),
    path("handoff/active", apis.ActiveApi.as_view(), name="handoff-active"),
    path("handoff/send", apis.SendApi.as_view(), name="handoff-send"),
    path("handoff/offers/", apis.OfferListApi.as_view(), name="handoff-offers"),
    path(
        "handoff/offers/<uuid:offer_id>/accept",
        apis.OfferAcceptApi.as_view(),
        name="handoff-offer-accept",
    ),
    path(
        "handoff/offers/<uuid:offer_id>/decline",
        apis.OfferDeclineApi.as_view(),
        name="handoff-offer-decline",
    ),
    path("settings", apis.SettingsApi.as_view(), name="settings"),
]
