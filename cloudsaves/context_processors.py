"""Template context every page shares."""

from django.conf import settings


def site(request) -> dict:
    # A private instance (CLOUDSAVES_OPEN_SIGNUP=0) offers no sign-up links.
    return {"signup_open": settings.CLOUDSAVES_OPEN_SIGNUP}
