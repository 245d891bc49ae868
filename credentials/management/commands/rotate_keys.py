from django.core.management.base import BaseCommand

from credentials import crypto, services


class Command(BaseCommand):
    help = (
        "Re-encrypts every readable issued code under the first key of OTPSITE_ENCRYPTION_KEYS. Put the new "
        "key first, keep the old ones after it, run this, then drop the old keys."
    )

    def handle(self, *args, **options):
        count = services.codes_reseal()
        self.stdout.write(f"Re-encrypted {count} issued codes under key {crypto.current_key_id()!r}.")
