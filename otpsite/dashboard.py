"""The admin index: what happened to codes, deliveries, cards, keys and downloads today and over 7 and 30
days, for the organizations the staff user may see, each figure linking to the list of what it counts.

Finished days and today's finished hours come from DashboardPeriod (each computed once, after it ends);
only the last hour or two is counted live, with range queries on indexed timestamps. So the page reads a
bounded number of rows however large the tables grow, in a fixed number of statements.

A period's figures are counters named `kind:scope:surface` for codes (issued, expired, verified, failed),
`kind:channel` for deliveries, and `kind` alone for downloads. Periods kept before codes carried their
surface name codes `kind:scope`; they read as of the UNKNOWN surface, like codes and audit events of that
time."""

import functools
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q
from django.db.models.fields.json import KT
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone

from credentials.choices import CardState, Channel, DeliveryStatus, Scope, Surface
from credentials.models import IssuedCode, OtpCard
from otpsite.models import DashboardPeriod
from otpusers.admin_scoping import sees_every_organization, visible_organization_ids
from otpusers.models import ApiKey, AppAccess, AuditEvent, Organization

WINDOWS = (("today", 1), ("7 days", 7), ("30 days", 30))
HISTORY_DAYS = 30
# A day is final once it has ended and retried deliveries of its last codes have settled.
SETTLE = timedelta(hours=1)
EXPIRING_SOON = timedelta(days=14)
UNUSED_FOR = timedelta(days=30)
NEARLY_USED_LEFT = 1  # downloads left at which an allowance counts as nearly used
RECENT_ACTIONS = 10
# Counts of current state (not of events) stop here and read "10000+": the list behind the link has them all.
COUNT_LIMIT = 10_000


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _scoped(queryset, organization_ids, path: str = "organization"):
    return queryset if organization_ids is None else queryset.filter(**{f"{path}_id__in": organization_ids})


def figures_between(start: datetime, end: datetime, now: datetime, organization_ids=None) -> dict[int, Counter]:
    """Counters per organization for events in [start, end): codes issued, delivered and failed by channel,
    expired unused, verified and failed (from the audit trail), and downloads. Four statements."""
    per_organization: dict[int, Counter] = {}

    def add(organization_id, key: str, count: int) -> None:
        if organization_id is not None and count:
            per_organization.setdefault(organization_id, Counter())[key] += count

    issued = _scoped(IssuedCode.objects.filter(created_at__gte=start, created_at__lt=end), organization_ids)
    rows = issued.values("organization_id", "scope", "surface", "delivery_status", "channels").annotate(n=Count("id"))
    for row in rows:
        add(row["organization_id"], f"issued:{row['scope']}:{row['surface']}", row["n"])
        outcome = {DeliveryStatus.SENT: "delivered", DeliveryStatus.FAILED: "delivery_failed"}.get(
            row["delivery_status"]
        )
        for channel in row["channels"] or []:
            if outcome:
                add(row["organization_id"], f"{outcome}:{channel}", row["n"])

    expiry_end = min(end, now)
    # Codes expiring in the period were issued at most the longest validity any organization sets before.
    longest = Organization.objects.aggregate(longest=Max("code_validity_seconds"))["longest"] or 0
    expired = _scoped(
        IssuedCode.objects.filter(
            created_at__gte=start - timedelta(seconds=longest),
            created_at__lt=expiry_end,
            valid_until__gte=start,
            valid_until__lt=expiry_end,
            consumed_at__isnull=True,
            superseded_at__isnull=True,
            locked_at__isnull=True,
            revoked_at__isnull=True,
        ),
        organization_ids,
    )
    for row in expired.values("organization_id", "scope", "surface").annotate(n=Count("id")):
        add(row["organization_id"], f"expired:{row['scope']}:{row['surface']}", row["n"])

    events = _scoped(
        AuditEvent.objects.filter(
            action__in=("code.verify", "app_access.download"), created_at__gte=start, created_at__lt=end
        ),
        organization_ids,
    )
    rows = events.values(
        "organization_id", "action", "outcome", scope=KT("detail__scope"), surface=KT("detail__surface")
    ).annotate(n=Count("id"))
    for row in rows:
        if row["action"] == "app_access.download":
            add(row["organization_id"], "downloads" if row["outcome"] == "success" else "downloads_refused", row["n"])
        else:
            verdict = "verified" if row["outcome"] == "success" else "failed"
            surface = row["surface"] or Surface.UNKNOWN
            add(row["organization_id"], f"{verdict}:{row['scope']}:{surface}", row["n"])
    return per_organization


CODE_KINDS = ("issued", "verified", "failed", "expired")


def figure_key_parts(key: str) -> tuple[str, str, str]:
    """(kind, scope or channel, surface) of a counter's name; a code counter kept before codes carried
    their surface (`issued:GENERIC`) reads as of the UNKNOWN surface."""
    kind, _, rest = key.partition(":")
    detail, _, surface = rest.partition(":")
    if kind in CODE_KINDS and not surface:
        surface = Surface.UNKNOWN.value
    return kind, detail, surface


def _latest_delivery_failures(now: datetime, organization_ids, look_at: int = 50) -> dict[str, str]:
    """The latest delivery failure's reason per channel, from the audit trail's newest failures (an index
    walk that stops after `look_at` rows) and their codes' channels."""
    failures = _scoped(
        AuditEvent.objects.filter(
            action="code.deliver", outcome="failure", created_at__gte=now - timedelta(days=HISTORY_DAYS)
        ),
        organization_ids,
    ).order_by("-created_at", "-id")
    failures = list(failures.values_list("object_id", "detail")[:look_at])
    channels = dict(
        IssuedCode.objects.filter(public_id__in=[object_id for object_id, _ in failures]).values_list(
            "public_id", "channels"
        )
    )
    latest: dict[str, str] = {}
    for object_id, detail in failures:
        for channel in channels.get(object_id) or []:
            latest.setdefault(channel, str((detail or {}).get("error", "")))
    return latest


def last_final_day(now: datetime) -> date:
    return (now - SETTLE).date() - timedelta(days=1)


def last_final_hour_end(now: datetime) -> datetime:
    """The end of the last hour whose figures are final (it ended, and SETTLE has passed since)."""
    return (now - SETTLE).replace(minute=0, second=0, microsecond=0)


def _compute_periods(length: str, starts: list[datetime], span: timedelta, now: datetime) -> int:
    """Computes and keeps the figures of each period in `starts` not yet computed; returns how many."""
    done = set(
        DashboardPeriod.objects.filter(organization__isnull=True, length=length, start__in=starts).values_list(
            "start", flat=True
        )
    )
    missing = [start for start in starts if start not in done]
    for start in missing:
        figures = figures_between(start, start + span, now)
        try:
            with transaction.atomic():
                DashboardPeriod.objects.bulk_create(
                    [DashboardPeriod(organization=None, length=length, start=start, computed_at=now)]
                    + [
                        DashboardPeriod(
                            organization_id=organization_id,
                            length=length,
                            start=start,
                            figures=dict(counts),
                            computed_at=now,
                        )
                        for organization_id, counts in figures.items()
                    ]
                )
        except IntegrityError:
            continue  # a parallel request computed the same period
    return len(missing)


def rollup_days(now: datetime | None = None, days: int = HISTORY_DAYS) -> int:
    """Computes and keeps the figures of each finished day of the last `days`, and of each finished hour
    since; returns how many periods it computed. Run by the dashboard (an hour or a day at most, usually)
    and by `manage.py dashboard_rollup` (after a bulk load, or from a timer)."""
    now = now or timezone.now()
    last_day = last_final_day(now)
    day_starts = [_day_start(last_day - timedelta(days=offset)) for offset in range(days)]
    first_hour, last_hour_end = _day_start(last_day + timedelta(days=1)), last_final_hour_end(now)
    hour_starts = []
    while first_hour < last_hour_end:
        hour_starts.append(first_hour)
        first_hour += timedelta(hours=1)
    return _compute_periods(DashboardPeriod.Length.DAY, day_starts, timedelta(days=1), now) + _compute_periods(
        DashboardPeriod.Length.HOUR, hour_starts, timedelta(hours=1), now
    )


@dataclass
class Figure:
    title: str
    values: list[tuple[int, str]]  # (count, changelist link) per window
    note: str = ""


@dataclass
class Dashboard:
    codes: list[Figure] = field(default_factory=list)
    surfaces: list[dict] = field(default_factory=list)  # per surface: its total, then its scopes
    deliveries: list[dict] = field(default_factory=list)
    states: list[tuple[str, int, str]] = field(default_factory=list)
    activity_chart: str = ""
    delivery_chart: str = ""
    recent: list = field(default_factory=list)


def _link(model: str, **parameters) -> str:
    return f"{_changelist(model)}?{urlencode(parameters)}"


def _changelist(model: str) -> str:
    # The page links each of its few hundred cells to one of a few lists: each list's URL is reversed once.
    return _changelist_under(model, get_script_prefix(), get_urlconf())


@functools.lru_cache(maxsize=64)
def _changelist_under(model: str, script_prefix: str, urlconf) -> str:
    return reverse(f"admin:{model}_changelist")


def _bounded(count: int) -> int | str:
    return f"{COUNT_LIMIT}+" if count > COUNT_LIMIT else count


def _window_start(today: date, days: int) -> date:
    return today - timedelta(days=days - 1)


def build(request, now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    organization_ids = None if sees_every_organization(request.user) else visible_organization_ids(request)
    rollup_days(now)
    today = now.date()
    live_from = last_final_day(now) + timedelta(days=1)

    # Finished days, then today's (and, in its first hour, yesterday's) finished hours, then the rest live.
    live_start = last_final_hour_end(now)
    daily: dict[date, Counter] = {}
    stored = DashboardPeriod.objects.filter(organization__isnull=False).filter(
        Q(length=DashboardPeriod.Length.DAY, start__gte=_day_start(_window_start(today, HISTORY_DAYS)))
        | Q(length=DashboardPeriod.Length.HOUR, start__gte=_day_start(live_from), start__lt=live_start)
    )
    for row in _scoped(stored, organization_ids).values("start", "figures"):
        daily.setdefault(row["start"].date(), Counter()).update(row["figures"])
    midnight = _day_start(today)
    for start, end in ((live_start, min(now, midnight)), (max(live_start, midnight), now)):
        if start < end:
            for organization_counts in figures_between(start, end, now, organization_ids).values():
                daily.setdefault(start.date(), Counter()).update(organization_counts)

    # Each window's counters by (kind, scope or channel, surface), added up once, also with the scope or
    # channel, the surface or both left open (None), so that each of the page's cells is one lookup.
    windows: dict[int, Counter] = {days: Counter() for _, days in WINDOWS}
    for day, counts in daily.items():
        for key, count in counts.items():
            kind, detail, surface = figure_key_parts(key)
            for days, counter in windows.items():
                if day >= _window_start(today, days):
                    for open_detail in (detail, None):
                        for open_surface in (surface, None):
                            counter[kind, open_detail, open_surface] += count

    def total(kind: str, days: int, detail: str | None = None, surface: str | None = None) -> int:
        return windows[days][kind, detail, surface]

    def since(days: int) -> str:
        return _window_start(today, days).isoformat()

    def since_moment(days: int) -> str:
        # As the admin's own date filter writes it: the first moment of the day, with its offset.
        return str(_day_start(_window_start(today, days)))

    code_list, audit_list = "credentials_issuedcode", "otpusers_auditevent"

    def link_to(kind: str, days: int, scope: str | None = None, surface: str | None = None) -> str:
        """The list of what `total(kind, days, scope, surface)` counts: codes, or verifications audited."""
        narrowed = {
            **({"surface__exact": surface} if surface else {}),
            **({"scope__exact": scope} if scope else {}),
        }
        if kind in ("verified", "failed"):
            outcome = "success" if kind == "verified" else "failure"
            detail = {key.removesuffix("__exact"): value for key, value in narrowed.items()}
            return _link(
                audit_list, action="code.verify", outcome__exact=outcome, **detail, created_at_from=since(days)
            )
        status = {"status": "expired"} if kind == "expired" else {}
        return _link(code_list, **narrowed, **status, created_at__gte=since_moment(days))

    dashboard = Dashboard()
    dashboard.codes = [
        Figure(title, [(total(kind, d), link_to(kind, d)) for _, d in WINDOWS])
        for title, kind in (
            ("Codes issued", "issued"),
            ("Codes verified", "verified"),
            ("Failed verifications", "failed"),
            ("Expired unused", "expired"),
        )
    ]
    dashboard.codes.append(
        Figure(
            "Downloads",
            [
                (
                    total("downloads", d),
                    _link(audit_list, action="app_access.download", outcome__exact="success", created_at_from=since(d)),
                )
                for _, d in WINDOWS
            ],
        )
    )

    def figures_row(surface: Surface, scope: Scope | None) -> dict:
        return {
            "surface": surface.label,
            "scope": scope.label if scope else "All scopes",
            "is_total": scope is None,
            "cells": [
                (
                    total(kind, d, scope.value if scope else None, surface.value),
                    link_to(kind, d, scope.value if scope else None, surface.value),
                )
                for kind in CODE_KINDS
                for _, d in WINDOWS
            ],
        }

    for surface in Surface:
        surface_total = figures_row(surface, None)
        if not any(count for count, _ in surface_total["cells"]):
            continue
        dashboard.surfaces.append(surface_total)
        for scope in Scope:
            row = figures_row(surface, scope)
            if any(count for count, _ in row["cells"]):
                dashboard.surfaces.append(row)

    latest_reasons = _latest_delivery_failures(now, organization_ids)
    for channel in Channel:
        dashboard.deliveries.append(
            {
                "channel": channel.label,
                "failed": [
                    (
                        total("delivery_failed", d, channel.value),
                        _link(
                            code_list,
                            delivery_status__exact="failed",
                            channel=channel.value,
                            created_at__gte=since_moment(d),
                        ),
                    )
                    for _, d in WINDOWS
                ],
                "delivered": total("delivered", HISTORY_DAYS, channel.value),
                "latest_reason": latest_reasons.get(channel.value, ""),
            }
        )

    cards = _scoped(OtpCard.objects.all(), organization_ids).aggregate(
        tmp_locked=Count("id", filter=Q(state=CardState.TMP_LOCKED)),
        fail_locked=Count("id", filter=Q(state=CardState.FAIL_LOCKED)),
        low=Count(
            "id",
            filter=Q(cells_remaining__lt=F("policy__low_on_challenges_threshold"))
            & ~Q(state__in=[CardState.ARCHIVED, CardState.DISABLED]),
        ),
    )
    keys = _scoped(ApiKey.objects.filter(revoked_at__isnull=True), organization_ids).aggregate(
        expiring=Count("id", filter=Q(expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON)),
        unused=Count(
            "id",
            filter=Q(created_at__lte=now - UNUSED_FOR)
            & (Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - UNUSED_FOR))
            & (Q(expires_at__isnull=True) | Q(expires_at__gt=now)),
        ),
    )
    nearly_used = (
        _scoped(AppAccess.objects.all(), organization_ids, "published_application__store__organization")
        .alias(left=F("allowed_downloads_num") - F("downloads_used"))
        .filter(allowed_downloads_num__gte=0, left__lte=NEARLY_USED_LEFT)
        .order_by()[: COUNT_LIMIT + 1]
        .count()
    )
    dashboard.states = [
        (
            "Cards temporarily locked",
            cards["tmp_locked"],
            _link("credentials_otpcard", state__exact=CardState.TMP_LOCKED),
        ),
        (
            "Cards locked after failures",
            cards["fail_locked"],
            _link("credentials_otpcard", state__exact=CardState.FAIL_LOCKED),
        ),
        ("Cards low on challenges", cards["low"], _link("credentials_otpcard", challenges="low")),
        ("API keys expiring within 14 days", keys["expiring"], _link("otpusers_apikey", status="expiring")),
        ("API keys unused for 30 days", keys["unused"], _link("otpusers_apikey", status="unused")),
        (
            f"Allowances with {NEARLY_USED_LEFT} download or none left",
            nearly_used,
            _link("otpusers_appaccess", downloads="nearly"),
        ),
    ]

    days = [_window_start(today, HISTORY_DAYS) + timedelta(days=offset) for offset in range(HISTORY_DAYS)]
    day_total = lambda day, prefix: sum(n for k, n in daily.get(day, {}).items() if k.startswith(prefix + ":"))  # noqa: E731
    dashboard.activity_chart = json.dumps(
        {
            "labels": [day.strftime("%b %d") for day in days],
            "datasets": [
                {"label": "Issued", "data": [day_total(day, "issued") for day in days], "borderColor": "#7c3aed"},
                {"label": "Verified", "data": [day_total(day, "verified") for day in days], "borderColor": "#16a34a"},
                {"label": "Failed", "data": [day_total(day, "failed") for day in days], "borderColor": "#dc2626"},
            ],
        }
    )
    dashboard.delivery_chart = json.dumps(
        {
            "labels": [channel.label for channel in Channel],
            "datasets": [
                {
                    "label": "Delivered",
                    "data": [total("delivered", HISTORY_DAYS, c.value) for c in Channel],
                    "backgroundColor": "#16a34a",
                },
                {
                    "label": "Failed",
                    "data": [total("delivery_failed", HISTORY_DAYS, c.value) for c in Channel],
                    "backgroundColor": "#dc2626",
                },
            ],
        }
    )
    recent = AuditEvent.objects.select_related("organization").order_by("-created_at", "-id")
    dashboard.recent = list(_scoped(recent, organization_ids)[:RECENT_ACTIONS])
    return dashboard


def dashboard_callback(request, context: dict) -> dict:
    """UNFOLD["DASHBOARD_CALLBACK"]: the figures, for templates/admin/index.html."""
    dashboard = build(request)
    return {**context, "dashboard": dashboard, "windows": [label for label, _ in WINDOWS]}
