"""What people prove themselves with: codes issued to them (and, later, OTP cards)."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from credentials import choices
from otpusers.ids import new_object_id
from otpusers.models import Organization, OtpUser, public_id_constraint


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
            models.Index(fields=["organization", "-created_at"], name="credentials_code_org_time"),
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
