"""`manage.py prune`: removes issued codes, finished tasks and audit events past their retention periods
(OTPSITE_RETENTION_*_DAYS) and client-limit counters whose window has ended, in batches with progress; safe
to run while serving (deploy/ runs it daily)."""

from django.core.management.base import BaseCommand

from otpsite.retention import prune, retention
from otpusers.audit import Actor, audit_record


class Command(BaseCommand):
    help = "Remove codes, finished tasks and audit events past their retention, and ended rate-limit windows."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows deleted per transaction.")

    def handle(self, *, batch_size: int, verbosity: int, **options):
        removed = {}
        for kind in retention():
            if verbosity:
                self.stdout.write(f"{kind.name}: removing those older than {kind.days} days")
            removed[kind.name] = prune(
                kind,
                batch_size=batch_size,
                progress=lambda name, total: verbosity and self.stdout.write(f"  {name}: {total} removed so far"),
            )
            if verbosity:
                self.stdout.write(f"{kind.name}: {removed[kind.name]} removed")
        audit_record(actor=Actor.system("prune"), action="retention.prune", organization=None, detail=removed)
