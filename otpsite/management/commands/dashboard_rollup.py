from django.core.management.base import BaseCommand

from otpsite.dashboard import HISTORY_DAYS, rollup_days


class Command(BaseCommand):
    help = "Computes the dashboard's figures of each finished day not yet computed (after a bulk load, or daily)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=HISTORY_DAYS, help="How many finished days to cover.")

    def handle(self, *args, days: int, **options):
        computed = rollup_days(days=days)
        self.stdout.write(f"dashboard: computed {computed} day(s)")
