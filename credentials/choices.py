from django.db import models


class Scope(models.TextChoices):
    """What an issued code is for. The first ten are Capillary's actions; STORE_LOGIN is the store page's."""

    COUPON = "COUPON", "Coupon redemption"
    POINTS = "POINTS", "Points redemption"
    REGISTRATION = "REGISTRATION", "Registration"
    USERGROUP = "USERGROUP", "User group"
    SUBSCRIPTION = "SUBSCRIPTION", "Subscription"
    GENERIC = "GENERIC", "Generic"
    POINTSTRANSFER = "POINTSTRANSFER", "Points transfer"
    CUSTOMER_STATUS_UPDATE = "CUSTOMER_STATUS_UPDATE", "Customer status update"
    CUSTOMER_IDENTIFIER_CHANGE = "CUSTOMER_IDENTIFIER_CHANGE", "Customer identifier change"
    CUSTOMER_ISSUE_LINK_CARD = "CUSTOMER_ISSUE_LINK_CARD", "Customer issue / link card"
    STORE_LOGIN = "STORE_LOGIN", "Store page sign-in"


class Surface(models.TextChoices):
    """Where a code was issued or checked: every caller of code_issue and code_check names itself. Codes
    issued (and verifications audited) before surfaces were recorded read UNKNOWN."""

    CAPILLARY = "capillary", "Capillary"
    MANAGE = "manage", "myKaarma manage"
    STORE = "store", "Store page"
    ADMIN = "admin", "Staff console"
    INTERNAL = "internal", "Internal (commands and probes)"
    UNKNOWN = "unknown", "Unknown (before surfaces were recorded)"


class IdentifierType(models.TextChoices):
    """How the recipient was named; each maps to an OtpUser identifier field."""

    MOBILE = "mobile", "Mobile"
    EMAIL = "email", "Email"
    EXTERNAL_ID = "external_id", "External id"
    WECHAT = "wechat", "WeChat id"
    USER_NAME = "user_name", "User name"


IDENTIFIER_FIELDS = {
    IdentifierType.MOBILE: "mobile",
    IdentifierType.EMAIL: "email",
    IdentifierType.EXTERNAL_ID: "external_id",
    IdentifierType.WECHAT: "wechat_id",
    IdentifierType.USER_NAME: "user_name",
}


class Channel(models.TextChoices):
    """Where a code is sent; each but EMAIL goes through the gateway backend set for it."""

    SMS = "SMS", "SMS"
    EMAIL = "EMAIL", "Email"
    VOICE = "VOICE", "Voice call"
    WHATSAPP = "WHATSAPP", "WhatsApp"
    ZALO = "ZALO", "Zalo"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class AttemptOutcome(models.TextChoices):
    """How one try at handing a code to a channel's provider ended (see credentials/tasks.py)."""

    SENDING = "sending", "Sending (in progress, or the worker stopped during it)"
    SENT = "sent", "Accepted by the provider"
    RETRY = "retry", "Transient failure, tried again later"
    FAILED = "failed", "Failed for good"
    INTERRUPTED = "interrupted", "The worker stopped during it; sent again with the same idempotency key"


class NewBuildEmailStatus(models.TextChoices):
    """Where one person's new-build email stands (see credentials/notifications.py)."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending (in progress, or the worker stopped during it)"
    SENT = "sent", "Accepted by the mail server"
    RETRY = "retry", "Transient failure, tried again later"
    FAILED = "failed", "Failed for good"


class CodeStatus(models.TextChoices):
    """Derived from an issued code's timestamps; see IssuedCodeQuerySet.with_status."""

    OUTSTANDING = "outstanding", "Outstanding"
    USED = "used", "Used"
    EXPIRED = "expired", "Expired"
    SUPERSEDED = "superseded", "Superseded"
    LOCKED = "locked", "Locked"
    REVOKED = "revoked", "Revoked"


class VerifyOutcome(models.TextChoices):
    """The precise reason behind a verify: audited, never told to the caller beyond success or not."""

    SUCCESS = "success", "Correct code"
    WRONG = "wrong", "Wrong code"
    EXPIRED = "expired", "Code expired"
    USED = "used", "Code already used"
    LOCKED = "locked", "Code locked after too many attempts"
    REVOKED = "revoked", "Code revoked"
    NO_CODE = "no_code", "No code issued for this recipient and scope"
    UNKNOWN_RECIPIENT = "unknown_recipient", "No such person"
    PERSON_INACTIVE = "person_inactive", "The person is deactivated"
    IDENTITY_MISMATCH = "identity_mismatch", "The phone number is not the person's"


class CardState(models.TextChoices):
    """nevisIDM's credential states (credentials/card.py holds the transitions between them)."""

    INITIAL = "initial", "Initial"
    ACTIVE = "active", "Active"
    TMP_LOCKED = "tmp-locked", "Temporarily locked"
    FAIL_LOCKED = "fail-locked", "Locked after failures"
    RESET_CODE = "reset-code", "Reset code"
    ADMIN_CHANGED = "admin-changed", "Changed by an administrator"
    DISABLED = "disabled", "Disabled"
    ARCHIVED = "archived", "Archived"


class TmpLockingMode(models.TextChoices):
    STRICT = "strict", "Strict: every failure at or past the threshold locks again"
    THRESHOLD = "threshold", "Threshold: only the failure that reaches it locks"
