"""python manage.py api_token_create --user USERNAME [--label TEXT] [--expires-days N]

Creates a personal API token for a script; the token is printed alone on the last line."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from api.exceptions import ApiError
from api.services import token_create
from core.models import User


class Command(BaseCommand):
    help = "Create a personal API token (32 upper-case hexadecimal characters) for a user."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username of the token's owner")
        parser.add_argument("--label", default="script", help="what the token is for")
        parser.add_argument("--expires-days", type=int, default=None,
                            help="days until the token expires (default: no expiry)")

    def handle(self, *args, user, label, expires_days, **options):
        owner = User.objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"--user: no user named {user!r}.")
        if expires_days is not None and expires_days <= 0:
            raise CommandError(f"--expires-days: must be a positive number of days; found {expires_days}.")
        expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
        try:
            token, raw = token_create(user=owner, label=label, expires_at=expires_at)
        except ApiError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"API token '{token.label}' for {owner.username} (shown once; stored hashed):")
        self.stdout.write(raw)
