"""Shared pieces of the staff pages."""


class ReadOnlyAdminMixin:
    """For records that only the services write (they keep sequences, ledgers and
    notifications right): the admin shows them, it does not add or edit them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False
