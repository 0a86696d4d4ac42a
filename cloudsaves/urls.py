from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from accounts import views as account_views

from . import views

api_v1 = [
    path("info", views.InfoApi.as_view(), name="info"),
    path("", include("accounts.urls")),
    path("", include("sync.urls")),
    path("", include("handoff.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("sync.page_urls")),
    path("devices/", account_views.devices, name="devices"),
    path("sw.js", views.service_worker, name="service-worker"),
    path("manifest.webmanifest", views.manifest, name="manifest"),
    path("accounts/login/", account_views.login, name="account_login"),
    path("accounts/security/", account_views.security_activity, name="account_security"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/docs/", views.ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("favicon.ico", views.favicon, name="favicon"),
    # Last: any other /api/ path answers the JSON error shape, even with DEBUG on.
    re_path(r"^api/[\s\S]*$", views.api_not_found, name="api-not-found"),
]

handler400 = "cloudsaves.views.bad_request"
handler403 = "cloudsaves.views.permission_denied"
handler404 = "cloudsaves.views.not_found"
handler500 = "cloudsaves.views.server_error"
