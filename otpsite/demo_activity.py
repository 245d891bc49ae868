"""Thirty days of made-up activity for `make run`, so that the dashboard has something to show: codes
issued, verified, failed, expired and undelivered, downloads, and cards in each state that needs
attention. Bulk inserts with fixed random choices; done once per organization (seed_demo calls it again
on every run, and it leaves an organization that already has activity alone)."""

import random
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from credentials import services as card_services
from credentials.choices import CardState, Channel, DeliveryStatus, IdentifierType, Scope, Surface
from credentials.models import IssuedCode, OtpCard
from otpsite.dashboard import rollup_days
from otpsite.models import DashboardPeriod
from otpusers.audit import Actor
from otpusers.choices import ActorType, Outcome
from otpusers.models import AppAccess, AuditEvent, Organization

DAYS = 30
LIMIT_WINDOW = timedelta(hours=25)  # a little more than the daily issue limit's 24 hours
SCOPES = (Scope.GENERIC, Scope.COUPON, Scope.POINTS, Scope.REGISTRATION, Scope.STORE_LOGIN)
# Where the API scopes' codes are asked for (store-page sign-in codes come from the store page).
API_SURFACES = (Surface.CAPILLARY, Surface.CAPILLARY, Surface.MANAGE, Surface.ADMIN)
DELIVERY_ERRORS = ("SMS gateway timed out after 10 s", "550 mailbox unavailable", "number not reachable")


def _event(organization, when: datetime, action: str, target_type: str, target_id: str, outcome=Outcome.SUCCESS, **kw):
    return AuditEvent(
        organization=organization,
        actor_type=ActorType.API_KEY if action.startswith("code.") else ActorType.SYSTEM,
        actor_label="demo activity",
        action=action,
        object_type=target_type,
        object_id=target_id,
        outcome=outcome,
        created_at=when,
        **kw,
    )


@transaction.atomic
def seed_activity(*, organization: Organization, actor: Actor, now: datetime | None = None) -> bool:
    """Fills the last 30 days for `organization`; False when it already has activity."""
    now = now or timezone.now()
    if IssuedCode.objects.filter(organization=organization, created_at__lt=now - timedelta(days=1)).exists():
        return False
    chance = random.Random(organization.pk)
    people = list(organization.people.order_by("id"))
    # The demo's curls send codes to its first two people: their daily limit stays untouched.
    recent_people = people[2:] or people
    accesses = list(AppAccess.objects.filter(otp_user__organization=organization))
    codes, events = [], []
    for days_ago in range(DAYS, -1, -1):
        day_start = (now - timedelta(days=days_ago)).replace(hour=0, minute=0, second=0, microsecond=0)
        latest = now - timedelta(minutes=5) if days_ago == 0 else day_start + timedelta(hours=24)
        for _ in range(chance.randint(15, 60)):
            created = day_start + (latest - day_start) * chance.random()
            person = chance.choice(recent_people if created > now - LIMIT_WINDOW else people)
            channel = chance.choice((Channel.SMS, Channel.SMS, Channel.EMAIL))
            fate = chance.random()
            failed_delivery = fate > 0.95
            scope = chance.choice(SCOPES)
            code = IssuedCode(
                organization=organization,
                otp_user=person,
                identifier_type=IdentifierType.MOBILE if channel == Channel.SMS else IdentifierType.EMAIL,
                identifier_value=person.mobile if channel == Channel.SMS else person.email,
                scope=scope,
                surface=Surface.STORE if scope == Scope.STORE_LOGIN else chance.choice(API_SURFACES),
                channels=[channel],
                code_digest=secrets.token_hex(32),
                valid_until=created + timedelta(minutes=10),
                max_attempts=organization.code_max_attempts,
                created_at=created,
                last_sent_at=created,
                delivery_status=DeliveryStatus.FAILED if failed_delivery else DeliveryStatus.SENT,
                delivery_error=chance.choice(DELIVERY_ERRORS) if failed_delivery else "",
            )
            verified_at = created + timedelta(seconds=chance.randint(10, 300))
            if not failed_delivery and fate < 0.7 and verified_at < now:
                code.consumed_at = verified_at
            codes.append(code)
            if not failed_delivery and 0.55 < fate < 0.8 and verified_at < now:
                code.attempts = 1
                events.append(
                    _event(
                        organization,
                        verified_at - timedelta(seconds=5),
                        "code.verify",
                        "issuedcode",
                        code.public_id,
                        Outcome.FAILURE,
                        reason="wrong",
                        detail={"scope": code.scope, "surface": code.surface},
                    )
                )
            if code.consumed_at:
                events.append(
                    _event(
                        organization,
                        code.consumed_at,
                        "code.verify",
                        "issuedcode",
                        code.public_id,
                        reason="success",
                        detail={"scope": code.scope, "surface": code.surface},
                    )
                )
            if failed_delivery:
                events.append(
                    _event(
                        organization,
                        created,
                        "code.deliver",
                        "issuedcode",
                        code.public_id,
                        Outcome.FAILURE,
                        reason="delivery_failed",
                        detail={"error": code.delivery_error},
                    )
                )
        for _ in range(chance.randint(0, 6)):
            access = chance.choice(accesses)
            when = day_start + (latest - day_start) * chance.random()
            events.append(_event(organization, when, "app_access.download", "appaccess", access.public_id))
    IssuedCode.objects.bulk_create(codes, batch_size=1000)
    AuditEvent.objects.bulk_create(events, batch_size=1000)
    _cards_needing_attention(organization=organization, people=people, actor=actor, now=now)
    return True


def _cards_needing_attention(*, organization: Organization, people: list, actor: Actor, now: datetime) -> None:
    """One card temporarily locked and one locked for good, as failed logins leave them."""
    for person, state in zip(people[1:3], (CardState.TMP_LOCKED, CardState.FAIL_LOCKED), strict=False):
        if person.otp_cards.exists():
            continue
        card = card_services.card_create(person=person, state=CardState.ACTIVE, actor=actor)
        OtpCard.objects.filter(pk=card.pk).update(
            state=state,
            state_change_reason="too many failed logins",
            failed_login_count=2 if state == CardState.TMP_LOCKED else 3,
            last_failed_login_at=now - timedelta(minutes=30),
            tmp_locked_until=now + timedelta(days=1) if state == CardState.TMP_LOCKED else None,
        )


def refresh_dashboard(*, now: datetime | None = None) -> int:
    """Recomputes the dashboard's finished days (the activity above was written into them after the fact)."""
    now = now or timezone.now()
    DashboardPeriod.objects.filter(start__gte=now - timedelta(days=DAYS + 2)).delete()
    return rollup_days(now)
