from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Email-only accounts; everything else as allauth does it."""

    def is_open_for_signup(self, request) -> bool:
        from django.conf import settings

        return getattr(settings, "CLOUDSAVES_OPEN_SIGNUP", True)
