"""Tenancy and people: who owns what, who may download what, who may call the API, and what happened."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from otpusers import choices
from otpusers.ids import new_object_id

# The JavaScript safe-integer bound that Applivery documents for allowedDownloadsNum.
MAX_SAFE_INTEGER = 9_007_199_254_740_991
UNLIMITED_DOWNLOADS = -1
# An app access whose allowance is spent (the admin's "none left" filter, and its index's condition).
NO_DOWNLOADS_LEFT = models.Q(allowed_downloads_num__gte=0, allowed_downloads_num__lte=models.F("downloads_used"))


def public_id_field(help_text: str) -> models.CharField:
    return models.CharField(max_length=24, unique=True, default=new_object_id, editable=False, help_text=help_text)


def public_id_constraint(model_rule: str = "public_id_hex") -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=models.Q(public_id__regex=r"^[0-9a-f]{24}$"),
        name=f"%(app_label)s_%(class)s_{model_rule}",
        violation_error_message="The public id must be 24 lower-case hexadecimal characters.",
    )


def one_or_none(queryset: models.QuerySet):
    """The row a unique lookup finds, or None, asked with no ORDER BY.

    `.first()` orders by the model's ordering (or the primary key), and on a big table PostgreSQL may then
    walk that index and filter every row instead of using the unique index the lookup names."""
    return next(iter(queryset.order_by()[:1]), None)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Organization(TimestampedModel):
    """A tenant and its isolation boundary: API keys, people and codes never cross it."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=100, unique=True, help_text="Applivery organizationSlug: letters, digits and dashes."
    )
    ext_id = models.CharField(
        max_length=100,
        unique=True,
        null=True,
        blank=True,
        verbose_name="external id",
        help_text="nevisIDM clientExtId.",
    )
    public_id = public_id_field("Applivery organizationId (24 hex characters).")
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="organizations",
        help_text="Staff users who may use this organization's data through the API with their session.",
    )

    # One-time code settings (defaults: Twilio's validity and attempts, Capillary's daily limit).
    code_length = models.PositiveSmallIntegerField(default=6, help_text="Characters in an issued code, 4 to 12.")
    code_alphabet = models.CharField(
        max_length=16, choices=choices.CodeAlphabet.choices, default=choices.CodeAlphabet.DIGITS
    )
    code_validity_seconds = models.PositiveIntegerField(
        default=600, help_text="How long an issued code stays valid, in seconds (30 to 86400)."
    )
    code_max_attempts = models.PositiveSmallIntegerField(
        default=5, help_text="Wrong guesses a code takes before it locks (1 to 20)."
    )
    daily_issue_limit = models.PositiveIntegerField(
        default=10, help_text="Codes (and re-sends) one person may be sent in any 24 hours (1 to 1000)."
    )
    resend_cooldown_seconds = models.PositiveIntegerField(
        default=30, help_text="Seconds before the same person may be sent another code for the same scope."
    )
    code_read_back_allowed = models.BooleanField(
        default=False,
        help_text="Keep codes encrypted (not only hashed) so that the API can read the most recent one back "
        "(Capillary Get OTP) and re-send a still valid one.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            public_id_constraint(),
            models.CheckConstraint(
                condition=models.Q(code_length__gte=4, code_length__lte=12),
                name="%(app_label)s_%(class)s_code_length_range",
                violation_error_message="Codes have 4 to 12 characters.",
            ),
            models.CheckConstraint(
                condition=models.Q(code_validity_seconds__gte=30, code_validity_seconds__lte=86_400),
                name="%(app_label)s_%(class)s_code_validity_range",
                violation_error_message="A code is valid for 30 seconds to 24 hours.",
            ),
            models.CheckConstraint(
                condition=models.Q(code_max_attempts__gte=1, code_max_attempts__lte=20),
                name="%(app_label)s_%(class)s_code_attempts_range",
                violation_error_message="A code takes 1 to 20 attempts.",
            ),
            models.CheckConstraint(
                condition=models.Q(daily_issue_limit__gte=1, daily_issue_limit__lte=1000),
                name="%(app_label)s_%(class)s_daily_issue_limit_range",
                violation_error_message="The daily issue limit is 1 to 1000.",
            ),
            models.CheckConstraint(
                condition=models.Q(resend_cooldown_seconds__lte=3600),
                name="%(app_label)s_%(class)s_resend_cooldown_range",
                violation_error_message="The resend cooldown is at most an hour.",
            ),
            models.CheckConstraint(
                condition=models.Q(slug__regex=r"^[a-zA-Z0-9-]{3,}$"),
                name="%(app_label)s_%(class)s_slug_format",
                violation_error_message="The slug needs at least 3 letters, digits or dashes.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Store(TimestampedModel):
    """An organization's app store, where published applications are offered."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="stores")
    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=100, unique=True, help_text="The store page's address: /store/<slug>/<application slug>/."
    )
    security = models.CharField(
        max_length=16, choices=choices.StoreSecurity.choices, default=choices.StoreSecurity.PUBLIC
    )
    public_id = public_id_field("Applivery storeId (24 hex characters).")

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [public_id_constraint()]

    def __str__(self) -> str:
        return f"{self.name} ({self.organization.slug})"


class PublishedApplication(TimestampedModel):
    """An app build offered in a store; people reach it with an app access and an emailed code."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="published_applications")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, help_text="Used in the store page's address.")
    visibility = models.CharField(max_length=16, choices=choices.Visibility.choices, default=choices.Visibility.ACTIVE)
    application_public_id = models.CharField(
        max_length=24,
        default=new_object_id,
        db_index=True,
        verbose_name="application id",
        help_text="Applivery applicationId: the app whose builds this publication offers; every "
        "publication of the same app shares it.",
    )
    build_file = models.FileField(upload_to="builds/%Y/%m/", blank=True, help_text="The current build people download.")
    notify_otp_users_on_new_build = models.BooleanField(
        default=False,
        verbose_name="notify OTP users of new builds",
        help_text="When a new build is uploaded, email each person with access and downloads left a link to the "
        "store page (Applivery's notifications.newBuildNotifyOtpUsers).",
    )
    public_id = public_id_field("Applivery publishedApplicationId (24 hex characters).")
    access_count = models.PositiveBigIntegerField(
        default=0,
        editable=False,
        verbose_name="OTP users",
        help_text="App accesses of this publication, kept exact by the database on every insert and delete "
        "(the Applivery list's totalDocs, without counting the rows).",
    )

    class Meta:
        ordering = ["store__name", "name"]
        constraints = [
            public_id_constraint(),
            models.CheckConstraint(
                condition=models.Q(application_public_id__regex=r"^[0-9a-f]{24}$"),
                name="%(app_label)s_%(class)s_application_public_id_hex",
                violation_error_message="The application id must be 24 lower-case hexadecimal characters.",
            ),
            models.UniqueConstraint(
                fields=["store", "slug"],
                name="%(app_label)s_%(class)s_unique_slug",
                violation_error_message="This store already has a published application with this slug.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # access_count belongs to the database's triggers: a save from a form must not write back the count
        # it read, which another request may have changed since.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "access_count"
            ]
        super().save(*args, **kwargs)


def identifier_unique(field: str) -> models.UniqueConstraint:
    return models.UniqueConstraint(
        Lower(field),
        "organization",
        condition=~models.Q(**{field: ""}),
        name=f"%(app_label)s_%(class)s_unique_{field}",
        violation_error_message=f"Another person in this organization has this {field.replace('_', ' ')}.",
    )


def identifier_condition(
    field: str, value: str, *, through: str = "", exact_case: bool = False, lowered: str | None = None
) -> models.Q:
    """A person's identifier `field` equals `value`, ignoring case, in the form the unique index on
    lower(field) serves (it covers set identifiers only, hence the second condition). `through` leads from
    another model to the person (e.g. "otp_user__"), so that a code or card is found with its person in one
    query. With `exact_case`, the index finds the row and the exact value is then checked on it (nevisIDM's
    external ids are compared as given). `lowered` is `value.lower()` when the caller has it (a prepared
    lookup passes it as a value of its own)."""
    path = f"{through}{field}"
    condition = models.Q(**{f"{path}__lower": value.lower() if lowered is None else lowered, f"{path}__is_set": True})
    return condition & models.Q(**{path: value}) if exact_case else condition


class OtpUserQuerySet(models.QuerySet):
    def as_one_id(self) -> models.Subquery:
        """The id of the one person this queryset names, as a subquery, to find their codes, cards or
        accesses in the same query: `otp_user=people.as_one_id()`. PostgreSQL runs it first (an InitPlan
        through the identifier's index) and then reads the person's rows through their own index; a join
        would let it walk a time-ordered index of every person's rows instead, looking for theirs."""
        return models.Subquery(self.order_by().values("pk")[:1])

    def with_identifier(
        self, field: str, value: str, *, exact_case: bool = False, lowered: str | None = None
    ) -> "OtpUserQuerySet":
        """People whose identifier `field` equals `value` (see identifier_condition)."""
        return self.filter(identifier_condition(field, value, exact_case=exact_case, lowered=lowered))


class OtpUser(TimestampedModel):
    """A person in an organization who receives one-time codes. Each identifier is unique in it when set
    (compared case-insensitively); an empty identifier is not set."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="people")
    email = models.EmailField(max_length=256, blank=True)
    mobile = models.CharField(max_length=32, blank=True, help_text="E.164 mobile number.")
    external_id = models.CharField(max_length=100, blank=True)
    wechat_id = models.CharField(max_length=100, blank=True, verbose_name="WeChat id")
    user_name = models.CharField(max_length=150, blank=True)
    ext_id = models.CharField(
        max_length=100,
        blank=True,
        verbose_name="external user id",
        help_text="nevisIDM userExtId.",
    )
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)

    # The profile the manage (myKaarma) surface returns.
    nick_name = models.CharField(max_length=150, blank=True)
    text_number = models.CharField(max_length=32, blank=True, help_text="Number the person receives texts on.")
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name="UUID")
    password_expires_at = models.DateTimeField(null=True, blank=True)
    force_password_change = models.BooleanField(default=False)
    latest_invite_status = models.CharField(max_length=32, blank=True, help_text="E.g. SENT, ACCEPTED, EXPIRED.")
    latest_invite_date = models.DateTimeField(null=True, blank=True)
    latest_invite_uuid = models.UUIDField(null=True, blank=True, verbose_name="latest invite UUID")
    is_valid = models.BooleanField(default=True, help_text="Off for a deactivated person: no code works for them.")
    rollout_stage = models.CharField(max_length=32, blank=True, help_text="The person's feature rollout stage.")
    last_login_at = models.DateTimeField(null=True, blank=True, help_text="Last sign-in with a code.")

    objects = OtpUserQuerySet.as_manager()

    class Meta:
        verbose_name = "person"
        verbose_name_plural = "people"
        ordering = ["-id"]
        indexes = [
            # The admin's "not valid" filter: the few deactivated people, newest first.
            models.Index(fields=["-id"], condition=models.Q(is_valid=False), name="otpusers_person_invalid"),
        ]
        constraints = [
            identifier_unique("email"),
            identifier_unique("mobile"),
            identifier_unique("external_id"),
            identifier_unique("wechat_id"),
            identifier_unique("user_name"),
            identifier_unique("ext_id"),
        ]

    def __str__(self) -> str:
        return self.email or self.user_name or self.mobile or self.ext_id or f"person {self.pk}"


class AppAccess(TimestampedModel):
    """A person's access to one published application: what Applivery's API calls an "OTP user"."""

    published_application = models.ForeignKey(PublishedApplication, on_delete=models.CASCADE, related_name="accesses")
    # The publication's store, copied so that a store's list pages are served by one index in their order
    # (a publication never changes store). Filled on save, and by the database for rows inserted otherwise.
    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="+", editable=False)
    otp_user = models.ForeignKey(OtpUser, on_delete=models.CASCADE, related_name="accesses", verbose_name="person")
    public_id = public_id_field("Applivery otpUserId (24 hex characters).")
    allowed_downloads_num = models.BigIntegerField(
        verbose_name="allowed downloads",
        help_text="How many downloads this person may make in all; -1 means unlimited.",
    )
    downloads_used = models.PositiveBigIntegerField(default=0)
    last_login_at = models.DateTimeField(null=True, blank=True)
    last_download_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "app access"
        verbose_name_plural = "app accesses"
        ordering = ["-created_at", "-id"]
        indexes = [
            # The admin's allowance filters, in the changelist's order.
            models.Index(
                fields=["-created_at", "-id"],
                condition=models.Q(allowed_downloads_num=UNLIMITED_DOWNLOADS),
                name="otpusers_access_unlimited",
            ),
            models.Index(fields=["-created_at", "-id"], condition=NO_DOWNLOADS_LEFT, name="otpusers_access_spent"),
            # The Applivery list, newest first: a store's page, and a publication's.
            models.Index(fields=["store", "-created_at", "-id"], name="otpusers_access_store_time"),
            models.Index(fields=["published_application", "-created_at", "-id"], name="otpusers_access_app_time"),
            # Allowances nearly used (the dashboard, the "downloads left" filter): limited ones by what is left.
            models.Index(
                models.F("allowed_downloads_num") - models.F("downloads_used"),
                condition=models.Q(allowed_downloads_num__gte=0),
                name="otpusers_access_left",
            ),
        ]
        constraints = [
            public_id_constraint(),
            models.UniqueConstraint(
                fields=["published_application", "otp_user"],
                name="%(app_label)s_%(class)s_unique_person",
                violation_error_message="This person already has access to this published application.",
            ),
            models.CheckConstraint(
                condition=models.Q(allowed_downloads_num__gte=UNLIMITED_DOWNLOADS)
                & models.Q(allowed_downloads_num__lte=MAX_SAFE_INTEGER),
                name="%(app_label)s_%(class)s_allowed_downloads_range",
                violation_error_message=f"Allowed downloads must be -1 (unlimited) up to {MAX_SAFE_INTEGER}.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.otp_user} → {self.published_application}"

    def save(self, *args, **kwargs):
        if self.store_id is None and self.published_application_id is not None:
            self.store_id = self.published_application.store_id
        super().save(*args, **kwargs)

    @property
    def downloads_left(self) -> int | None:
        """Downloads still allowed, or None when unlimited."""
        if self.allowed_downloads_num == UNLIMITED_DOWNLOADS:
            return None
        return max(self.allowed_downloads_num - self.downloads_used, 0)


class ApiKey(TimestampedModel):
    """An organization's credential for the API, holding a set of documented permission names.

    The secret (256 random bits) is shown once when the key is made and kept only as digests: SHA-256 of
    the secret for Bearer and Basic, and SHA-256 of its MD5 hex for Capillary clients, which send that.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=200)
    key_id = models.CharField(
        max_length=16, unique=True, editable=False, help_text="Public part of the key; the Basic user name."
    )
    secret_sha256 = models.CharField(max_length=64, editable=False)
    secret_md5_sha256 = models.CharField(max_length=64, editable=False)
    permissions = models.JSONField(default=list, blank=True, help_text="Documented permission names.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Requests this key may make in a minute; empty: the server's default "
        "(OTPSITE_API_KEY_REQUESTS_PER_MINUTE). Further requests answer 429 with Retry-After.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = "API key"
        ordering = ["organization__name", "name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(key_id__regex=r"^[0-9a-f]{16}$"),
                name="%(app_label)s_%(class)s_key_id_hex",
            ),
            models.CheckConstraint(
                condition=models.Q(requests_per_minute__isnull=True) | models.Q(requests_per_minute__gte=1),
                name="%(app_label)s_%(class)s_requests_per_minute_positive",
                violation_error_message="A key may make at least one request a minute.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def grants(self, permission_name: str) -> bool:
        return permission_name in self.permissions


class AuditEvent(models.Model):
    """One thing that happened: a state change, a failed check or a read-back, with its precise reason."""

    organization = models.ForeignKey(Organization, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_type = models.CharField(max_length=16, choices=choices.ActorType.choices)
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, help_text="Who it was, as it read then.")
    action = models.CharField(max_length=64, help_text="What happened, e.g. app_access.update.")
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=choices.Outcome.choices, default=choices.Outcome.SUCCESS)
    reason = models.CharField(max_length=200, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="otpusers_audit_time"),
            models.Index(fields=["organization", "-created_at"], name="otpusers_audit_org_time"),
            models.Index(fields=["object_type", "object_id"], name="otpusers_audit_object"),
            models.Index(fields=["action", "-created_at"], name="otpusers_audit_action_time"),
            # The admin's search (exact object id or request id) and filters (failures, kind of actor).
            models.Index(fields=["object_id"], name="otpusers_audit_object_id"),
            models.Index(fields=["request_id"], name="otpusers_audit_request"),
            models.Index(
                fields=["-created_at", "-id"],
                condition=models.Q(outcome=choices.Outcome.FAILURE),
                name="otpusers_audit_failures",
            ),
            models.Index(fields=["actor_type", "-created_at", "-id"], name="otpusers_audit_actor_time"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id} ({self.outcome})"
