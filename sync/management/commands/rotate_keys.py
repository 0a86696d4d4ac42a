from django.core.management.base import BaseCommand

from accounts.audit import Kind as AuditKind
from accounts.audit import audit_record
from sync.keys import rewrap_all


class Command(BaseCommand):
    help = (
        "Re-wrap every user's data key under the first key in CLOUDSAVES_ENCRYPTION_KEYS. "
        "Rotation: put the new key first and keep the old one after it, run this, then the "
        "old key can be removed."
    )

    def handle(self, *args, **options):
        done, current = rewrap_all()
        audit_record(AuditKind.KEYS_ROTATED, user=None, rewrapped=done, already_current=current)
        self.stdout.write(
            self.style.SUCCESS(f"Re-wrapped {done} data key(s); {current} already current.")
        )
