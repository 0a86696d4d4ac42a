from django.urls import path

from . import apis

urlpatterns = [
    path("sync/push", apis.PushApi.as_view(), name="sync-push"),
    path("sync/changes", apis.ChangesApi.as_view(), name="sync-changes"),
    path("sync/status", apis.StatusApi.as_view(), name="sync-status"),
    path("items/", apis.ItemListApi.as_view(), name="item-list"),
    path("items/<uuid:item_id>/", apis.ItemDetailApi.as_view(), name="item-detail"),
    path("items/<uuid:item_id>/content", apis.ItemContentApi.as_view(), name="item-content"),
    path("items/<uuid:item_id>/restore", apis.ItemRestoreApi.as_view(), name="item-restore"),
    path("items/<uuid:item_id>/versions/", apis.VersionListApi.as_view(), name="version-list"),
    path(
        "items/<uuid:item_id>/versions/<int:number>/",
        apis.VersionDetailApi.as_view(),
        name="version-detail",
    ),
    path(
        "items/<uuid:item_id>/versions/<int:number>/content",
        apis.VersionContentApi.as_view(),
        name="version-content",
    ),
    path("conflicts/", apis.ConflictListApi.as_view(), name="conflict-list"),
    path("conflicts/<uuid:conflict_id>/", apis.ConflictDetailApi.as_view(), name="conflict-detail"),
    path(
        "conflicts/<uuid:conflict_id>/resolve",
        apis.ConflictResolveApi.as_view(),
        name="conflict-resolve",
    ),
]
