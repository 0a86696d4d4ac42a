from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User
from sync.services import tombstones_purge


class Command(BaseCommand):
    help = (
        "Forget deleted items whose delete is older than --days (default 90). Devices whose "
        "cursor is older than a purged delete get 409 resync_required and pull from scratch."
    )

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=90)

    def handle(self, *args, days: int, **options):
        if days < 1:
            raise CommandError("--days must be at least 1")
        before = timezone.now() - timedelta(days=days)
        total = 0
        for user in User.objects.iterator():
            total += tombstones_purge(user=user, before=before)
        self.stdout.write(self.style.SUCCESS(f"Purged {total} deleted item(s)."))
