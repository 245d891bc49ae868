"""What people prove themselves with: codes issued to them (and, later, OTP cards)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials import choices
from otpusers.ids import new_object_id
from otpusers.models import Organization, OtpUser, PublishedApplication, public_id_constraint

# Neither used, superseded, locked nor revoked: outstanding until valid_until, expired after.
ACTIVE = Q(consumed_at__isnull=True, superseded_at__isnull=True, locked_at__isnull=True, revoked_at__isnull=True)


class IssuedCodeQuerySet(models.QuerySet):
    def outstanding(self, now=None):
        now = now or timezone.now()
        return self.filter(
            consumed_at__isnull=True,
            superseded_at__isnull=True,
            locked_at__isnull=True,
            revoked_at__isnull=True,
            valid_until__gt=now,
        )

    def with_status_filter(self, status: str, now=None):
        now = now or timezone.now()
        active = Q(consumed_at__isnull=True, locked_at__isnull=True, revoked_at__isnull=True)
        return self.filter(
            {
                choices.CodeStatus.OUTSTANDING: active & Q(superseded_at__isnull=True, valid_until__gt=now),
                choices.CodeStatus.USED: Q(consumed_at__isnull=False),
                choices.CodeStatus.LOCKED: Q(locked_at__isnull=False, consumed_at__isnull=True),
                choices.CodeStatus.SUPERSEDED: active & Q(superseded_at__isnull=False),
                choices.CodeStatus.EXPIRED: active & Q(superseded_at__isnull=True, valid_until__lte=now),
                choices.CodeStatus.REVOKED: Q(revoked_at__isnull=False, consumed_at__isnull=True),
            }[status]
        )


class IssuedCode(models.Model):
    """One one-time code issued to a person for one scope.

    The code itself is never stored: `code_digest` is an HMAC-SHA256 under the server key (to check a
    guess), and `code_sealed` is its AES-GCM encryption, kept only where the organization allows read-back.
    Attempts, use and lock are decided under a row lock (see services.code_verify).
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    otp_user = models.ForeignKey(OtpUser, on_delete=models.CASCADE, related_name="issued_codes", verbose_name="person")
    public_id = models.CharField(max_length=24, unique=True, default=new_object_id, editable=False)
    identifier_type = models.CharField(max_length=16, choices=choices.IdentifierType.choices)
    identifier_value = models.CharField(max_length=256, help_text="The identifier the code was requested for.")
    scope = models.CharField(max_length=32, choices=choices.Scope.choices)
    # A constant default, kept in the database too: PostgreSQL adds the column to a table of any size
    # without rewriting it, and rows inserted by SQL that names no surface (bulk loads) read UNKNOWN.
    surface = models.CharField(
        max_length=16,
        choices=choices.Surface.choices,
        default=choices.Surface.UNKNOWN,
        db_default=choices.Surface.UNKNOWN,
        help_text="Where the code was asked for.",
    )
    source = models.CharField(max_length=32, blank=True, help_text="Capillary source, e.g. INSTORE or WECHAT.")
    account_id = models.CharField(max_length=100, blank=True, help_text="Account of a multi-account source.")
    channels = models.JSONField(default=list, blank=True, help_text="Channels the code was sent on.")
    code_digest = models.CharField(max_length=64, editable=False)
    code_sealed = models.CharField(
        max_length=200,
        blank=True,
        editable=False,
        help_text="Encrypted code, only where read-back is allowed.",
    )
    valid_until = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Wrong guesses so far.")
    max_attempts = models.PositiveSmallIntegerField(help_text="Wrong guesses allowed before the code locks.")
    consumed_at = models.DateTimeField(null=True, blank=True, verbose_name="used at")
    superseded_at = models.DateTimeField(null=True, blank=True)
    locked_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    send_count = models.PositiveSmallIntegerField(default=1, help_text="Times the code was sent (re-sends too).")
    last_sent_at = models.DateTimeField(default=timezone.now)
    delivery_status = models.CharField(
        max_length=16, choices=choices.DeliveryStatus.choices, default=choices.DeliveryStatus.PENDING
    )
    delivery_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = IssuedCodeQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("verify_issuedcode", "Can verify issued codes")]
        indexes = [
            models.Index(fields=["otp_user", "scope", "-created_at"], name="credentials_code_recipient"),
            models.Index(fields=["otp_user", "-created_at"], name="credentials_code_person_time"),
            models.Index(fields=["-created_at", "-id"], name="credentials_code_time"),
            models.Index(fields=["organization", "-created_at"], name="credentials_code_org_time"),
            # The admin's filters, each in the changelist's order: by scope; and the rare states, each
            # in a small partial index (outstanding codes by their end of validity).
            models.Index(fields=["scope", "-created_at", "-id"], name="credentials_code_scope_time"),
            models.Index(fields=["surface", "-created_at", "-id"], name="credentials_code_surface_time"),
            models.Index(fields=["valid_until"], condition=ACTIVE, name="credentials_code_active_until"),
            models.Index(
                fields=["-created_at", "-id"], condition=Q(locked_at__isnull=False), name="credentials_code_locked"
            ),
            models.Index(
                fields=["-created_at", "-id"], condition=Q(revoked_at__isnull=False), name="credentials_code_revoked"
            ),
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(delivery_status=choices.DeliveryStatus.PENDING),
                name="credentials_code_pending",
            ),
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(delivery_status=choices.DeliveryStatus.FAILED),
                name="credentials_code_failed",
            ),
        ]
        constraints = [
            public_id_constraint(),
            models.CheckConstraint(
                condition=Q(attempts__lte=models.F("max_attempts")),
                name="%(app_label)s_%(class)s_attempts_within_max",
            ),
            models.CheckConstraint(
                condition=Q(code_digest__regex=r"^[0-9a-f]{64}$"),
                name="%(app_label)s_%(class)s_digest_hex",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope} code for {self.identifier_value} ({self.public_id})"

    @property
    def status(self) -> str:
        now = timezone.now()
        if self.revoked_at:
            return choices.CodeStatus.REVOKED
        if self.consumed_at:
            return choices.CodeStatus.USED
        if self.locked_at:
            return choices.CodeStatus.LOCKED
        if self.superseded_at:
            return choices.CodeStatus.SUPERSEDED
        if self.valid_until <= now:
            return choices.CodeStatus.EXPIRED
        return choices.CodeStatus.OUTSTANDING


class DeliveryAttempt(models.Model):
    """One try at handing an issued code to one channel's provider, written by the delivery worker.

    `send_id` names one send of the code (its issue, or a re-send) and is the idempotency key the provider
    sees, so that a send the worker repeats after a crash is recognised as the same message."""

    issued_code = models.ForeignKey(IssuedCode, on_delete=models.CASCADE, related_name="delivery_attempts")
    send_id = models.UUIDField()
    channel = models.CharField(max_length=16, choices=choices.Channel.choices)
    number = models.PositiveSmallIntegerField(help_text="1 for the first try of this send, then 2, 3, ...")
    outcome = models.CharField(max_length=16, choices=choices.AttemptOutcome.choices)
    provider_answer = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["issued_code", "-started_at"], name="credentials_attempt_code_time"),
            models.Index(fields=["-started_at"], name="credentials_attempt_time"),
        ]
        constraints = [
            # One live record per try; a try the worker was killed in stays as `interrupted` beside it.
            models.UniqueConstraint(
                fields=["send_id", "channel", "number"],
                condition=~Q(outcome=choices.AttemptOutcome.INTERRUPTED),
                name="%(app_label)s_%(class)s_one_per_try",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="%(app_label)s_%(class)s_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} try {self.number} of {self.send_id}: {self.outcome}"


class NewBuildEmail(models.Model):
    """One person's email about one new build (Applivery's newBuildNotifyOtpUsers), written by the delivery
    worker: who is told is decided once per announcement, and each person's email once, whatever the worker
    repeats after a crash. `send_id` names the announcement; with the person it is the email's Message-ID,
    the same on every try, so that a send repeated after a crash is recognised as the same message."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    send_id = models.UUIDField()
    # The person and the application, not their access: removing an access (Applivery's DELETE, a hot path)
    # deletes nothing here, and a retry finds the access gone and tells nobody.
    otp_user = models.ForeignKey(OtpUser, on_delete=models.CASCADE, related_name="new_build_emails")
    published_application = models.ForeignKey(PublishedApplication, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField(max_length=256, help_text="The address when the build was announced.")
    status = models.CharField(
        max_length=16, choices=choices.NewBuildEmailStatus.choices, default=choices.NewBuildEmailStatus.QUEUED
    )
    number = models.PositiveSmallIntegerField(default=1, help_text="The try under way or last made: 1, 2, 3, ...")
    provider_answer = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="credentials_newbuild_time"),
            models.Index(fields=["status", "-created_at"], name="credentials_newbuild_status"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["send_id", "otp_user"], name="%(app_label)s_%(class)s_one_per_person"),
            models.CheckConstraint(condition=Q(number__gte=1), name="%(app_label)s_%(class)s_number_positive"),
        ]

    def __str__(self) -> str:
        return f"New build email to {self.email}: {self.status}"


class DeliveryWorker(models.Model):
    """A running `manage.py db_worker` process: its heartbeat tells /readyz that deliveries are being
    worked, and lets a new worker take back the tasks of one that died mid-task."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid} ({self.worker_id})"


class CardPolicy(models.Model):
    """Geometry and lockout of an organization's OTP cards, with nevisIDM's defaults."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="card_policies")
    ext_id = models.CharField(max_length=100, verbose_name="external id", help_text="nevisIDM policyExtId.")
    name = models.CharField(max_length=200)
    is_default = models.BooleanField(default=False, help_text="Used for new cards that name no policy.")
    rows = models.PositiveSmallIntegerField(default=14, help_text="Rows A–N on the default card (1 to 26).")
    cols = models.PositiveSmallIntegerField(default=12, help_text="Columns 1–12 on the default card (1 to 99).")
    cell_length = models.PositiveSmallIntegerField(default=4, help_text="Digits in each cell (2 to 8).")
    coordinate_card_format = models.BooleanField(
        default=False, help_text="Challenges as coordinates (A1–N12) rather than numbers (001–168)."
    )
    credential_lifetime_days = models.PositiveIntegerField(default=3650, help_text="How long a new card is valid.")
    low_on_challenges_threshold = models.PositiveSmallIntegerField(
        default=20, help_text="A card with fewer unused cells is flagged as low on challenges."
    )
    max_cred_failure_count = models.SmallIntegerField(
        default=3, help_text="Failures since the last success that lock the card for good; -1 never."
    )
    tmp_locking_threshold = models.SmallIntegerField(
        default=2, help_text="Failures since the last success that lock the card for a while; -1 never."
    )
    tmp_locking_duration_seconds = models.PositiveIntegerField(default=60, help_text="How long a temporary lock lasts.")
    tmp_locking_mode = models.CharField(
        max_length=16, choices=choices.TmpLockingMode.choices, default=choices.TmpLockingMode.STRICT
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "card policies"
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "ext_id"],
                name="%(app_label)s_%(class)s_unique_ext_id",
                violation_error_message="This organization already has a policy with this external id.",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(is_default=True),
                name="%(app_label)s_%(class)s_one_default",
                violation_error_message="An organization has one default card policy.",
            ),
            models.CheckConstraint(
                condition=Q(rows__gte=1, rows__lte=26, cols__gte=1, cols__lte=99),
                name="%(app_label)s_%(class)s_geometry_range",
                violation_error_message="A card has 1 to 26 rows and 1 to 99 columns.",
            ),
            models.CheckConstraint(
                condition=Q(cell_length__gte=2, cell_length__lte=8),
                name="%(app_label)s_%(class)s_cell_length_range",
                violation_error_message="Cells have 2 to 8 digits.",
            ),
            models.CheckConstraint(
                condition=(Q(max_cred_failure_count__gte=1) | Q(max_cred_failure_count=-1))
                & (Q(tmp_locking_threshold__gte=1) | Q(tmp_locking_threshold=-1)),
                name="%(app_label)s_%(class)s_thresholds",
                violation_error_message="Failure thresholds are at least 1, or -1 for never.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ext_id})"


class OtpCard(models.Model):
    """An nevisIDM OTP card: a grid of single-use cells, encrypted at rest, and its credential state.

    `counters` (one base-36 digit per cell, see credentials/card.py) is not secret; the cells are, and live
    only in `grid_sealed`. Every change bumps `version` (optimistic locking for the API's PATCH and replace);
    logins and challenges are decided under a row lock."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    otp_user = models.ForeignKey(OtpUser, on_delete=models.CASCADE, related_name="otp_cards", verbose_name="person")
    policy = models.ForeignKey(CardPolicy, on_delete=models.PROTECT, related_name="cards")
    public_id = models.CharField(max_length=24, unique=True, default=new_object_id, editable=False)
    ext_id = models.CharField(max_length=100, verbose_name="external id", help_text="nevisIDM extId.")
    state = models.CharField(max_length=16, choices=choices.CardState.choices, default=choices.CardState.INITIAL)
    state_change_reason = models.CharField(max_length=100, blank=True)
    state_change_detail = models.CharField(max_length=500, blank=True)
    modification_comment = models.CharField(max_length=500, blank=True)
    rows = models.PositiveSmallIntegerField()
    cols = models.PositiveSmallIntegerField()
    coordinate_card_format = models.BooleanField(default=False)
    grid_sealed = models.TextField(editable=False, help_text="The cells, AES-GCM encrypted.")
    counters = models.TextField(editable=False, help_text="Times each cell was challenged, base 36, row-major.")
    cells_remaining = models.PositiveSmallIntegerField(help_text="Cells never challenged.")
    latest_challenge = models.CharField(max_length=8, blank=True)
    successful_login_count = models.PositiveIntegerField(default=0)
    failed_login_count = models.PositiveIntegerField(default=0, help_text="Failures since the last success.")
    last_successful_login_at = models.DateTimeField(null=True, blank=True)
    last_failed_login_at = models.DateTimeField(null=True, blank=True)
    tmp_locked_until = models.DateTimeField(null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "OTP card"
        ordering = ["-created_at", "-id"]
        permissions = [
            ("print_otpcard", "Can print OTP cards (shows the cells)"),
            ("change_state_otpcard", "Can change the state of OTP cards and log in with them"),
        ]
        indexes = [
            models.Index(fields=["otp_user", "-created_at"], name="credentials_card_person_time"),
            # The admin's changelist order, whole and by state.
            models.Index(fields=["-created_at", "-id"], name="credentials_card_time"),
            models.Index(fields=["state", "-created_at", "-id"], name="credentials_card_state_time"),
            models.Index(fields=["cells_remaining"], name="credentials_card_remaining"),
        ]
        constraints = [
            public_id_constraint(),
            models.UniqueConstraint(
                fields=["organization", "ext_id"],
                name="%(app_label)s_%(class)s_unique_ext_id",
                violation_error_message="This organization already has a card with this external id.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=choices.CardState.values),
                name="%(app_label)s_%(class)s_state_valid",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_to__gt=models.F("valid_from")),
                name="%(app_label)s_%(class)s_validity_order",
                violation_error_message="The validity must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"OTP card {self.ext_id} of {self.otp_user}"

    @property
    def low_on_challenges(self) -> bool:
        return self.cells_remaining < self.policy.low_on_challenges_threshold

    def effective_state(self, now=None) -> str:
        """The state, with a temporary lock that has run out read as active (it is written back lazily)."""
        now = now or timezone.now()
        if self.state == choices.CardState.TMP_LOCKED and self.tmp_locked_until and self.tmp_locked_until <= now:
            return choices.CardState.ACTIVE
        return self.state

    def is_within_validity(self, now=None) -> bool:
        now = now or timezone.now()
        return (self.valid_from is None or self.valid_from <= now) and (self.valid_to is None or now < self.valid_to)
