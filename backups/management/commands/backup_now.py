"""python manage.py backup_now — take a backup set now (in this process) and print its ID."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backups import services
from backups.exceptions import BackupError


class Command(BaseCommand):
    help = "Take a backup set now and print its ID."

    def handle(self, *args, **opts):
        slot = f"manual:{timezone.now():%Y%m%dT%H%M%SZ}-cli"
        try:
            backup_set = services.backup_manual(slot=slot, by=None)
        except BackupError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        if backup_set is None:
            raise CommandError(f"{slot}: already taken")
        self.stdout.write(f"{backup_set.set_id} {backup_set.size_bytes} bytes sha256 {backup_set.manifest_sha256}")
