from django.core.management.base import BaseCommand, CommandError

from credentials import crypto, services


class Command(BaseCommand):
    help = (
        "Re-encrypts everything sealed (issued codes kept for read-back, OTP card grids) under the first key of "
        "OTPSITE_ENCRYPTION_KEYS. Put the new key first, keep the old ones after it, run this (again, if it "
        "stopped: each row names its key, so done rows are skipped), then drop the old keys."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500, help="Rows re-encrypted per transaction.")

    def handle(self, *args, batch_size: int, **options):
        current = crypto.current_key_id()
        self.stdout.write(f"Re-encrypting under key {current!r}; still under other keys: {self._outdated()}.")

        def progress(kind: str, done: int, last_id: int) -> None:
            self.stdout.write(f"  {kind}: {done} re-encrypted (up to id {last_id})")

        try:
            counts = services.sealed_values_reseal(batch_size=batch_size, progress=progress)
        except services.ResealFailed as error:
            raise CommandError(f"Stopped: {error}. Put the key it was sealed with back, and run this again.") from None
        done = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        self.stdout.write(f"Re-encrypted {done} under key {current!r}; still under other keys: {self._outdated()}.")

    def _outdated(self) -> str:
        return ", ".join(f"{count} {kind}" for kind, count in services.sealed_values_outdated().items())
