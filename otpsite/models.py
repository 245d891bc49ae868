"""The project layer's tables: the client limits' counters (when they live in the database) and the
dashboard's figures for finished periods.

A finished period's figures no longer change (each counts events by their own time: codes issued, expired,
verified or failed, downloads), so they are computed once, an hour after the period ends (when retried
deliveries have settled), and kept: whole days for the past, hours for today. Only the last hour or two
is counted live, so the dashboard reads a bounded number of rows however large the tables grow."""

from django.db import models
from django.utils import timezone

from otpusers.models import Organization


class RateLimitCounter(models.Model):
    """Events counted in one fixed window of one client limit (`key` names the limit, the client and the
    window). Raised by one INSERT … ON CONFLICT DO UPDATE … RETURNING, so parallel requests on any number
    of nodes each see a distinct count; rows whose window has ended are removed by `manage.py prune`. On
    PostgreSQL the table is UNLOGGED (migration 0003): its commits wait for no WAL flush."""

    key = models.CharField(max_length=255, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"


class DashboardPeriod(models.Model):
    class Length(models.TextChoices):
        DAY = "day", "Day"
        HOUR = "hour", "Hour"

    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty on the row that marks the period as computed, so that an idle period is not redone.",
    )
    length = models.CharField(max_length=4, choices=Length.choices)
    start = models.DateTimeField()
    figures = models.JSONField(default=dict, help_text='Counters such as {"issued:GENERIC": 12}.')
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(
                fields=["length", "start", "organization"],
                condition=models.Q(organization__isnull=False),
                name="%(app_label)s_%(class)s_unique_period",
            ),
            models.UniqueConstraint(
                fields=["length", "start"],
                condition=models.Q(organization__isnull=True),
                name="%(app_label)s_%(class)s_one_marker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.length} {self.start:%Y-%m-%d %H:%M} {self.organization_id or 'marker'}"
