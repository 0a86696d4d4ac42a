from django.urls import path

from . import views

urlpatterns = [
    path("items/", views.items, name="items"),
    path("items/<uuid:item_id>/", views.item, name="item"),
    path("items/<uuid:item_id>/history/", views.item_history, name="item-history"),
    path("conflicts/", views.conflicts, name="conflicts"),
    path("conflicts/<uuid:conflict_id>/", views.conflict, name="conflict"),
]
