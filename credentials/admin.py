from django.contrib import admin, messages
from django.utils import timezone

from credentials import services
from credentials.choices import CodeStatus
from credentials.models import IssuedCode
from otpusers.admin import BoundedCountPaginator
from otpusers.audit import Actor


class CodeStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return CodeStatus.choices

    def queryset(self, request, queryset):
        if self.value() in CodeStatus.values:
            return queryset.with_status_filter(self.value())
        return queryset


class ChannelFilter(admin.SimpleListFilter):
    title = "channel"
    parameter_name = "channel"

    def lookups(self, request, model_admin):
        return (("SMS", "SMS"), ("EMAIL", "Email"))

    def queryset(self, request, queryset):
        if self.value() in ("SMS", "EMAIL"):
            return queryset.filter(channels__contains=[self.value()])
        return queryset


@admin.register(IssuedCode)
class IssuedCodeAdmin(admin.ModelAdmin):
    """Read-only: codes are issued through the API and the store page. The code itself is never shown."""

    list_display = (
        "created_at",
        "identifier_value",
        "scope",
        "status_display",
        "attempts",
        "send_count",
        "delivery_status",
        "valid_until",
        "organization",
    )
    list_filter = (CodeStatusFilter, "scope", ChannelFilter, "delivery_status", "created_at", "organization")
    list_select_related = ("organization",)
    search_fields = ("=public_id", "identifier_value", "otp_user__email")
    search_help_text = "Exact code id, identifier or email."
    show_full_result_count = False
    paginator = BoundedCountPaginator
    actions = ("revoke",)
    fieldsets = (
        (None, {"fields": ("public_id", "organization", "otp_user", "identifier_type", "identifier_value")}),
        ("Purpose", {"fields": ("scope", "source", "account_id", "channels")}),
        (
            "State",
            {
                "fields": (
                    "status_display",
                    "valid_until",
                    "attempts",
                    "max_attempts",
                    "consumed_at",
                    "superseded_at",
                    "locked_at",
                    "revoked_at",
                )
            },
        ),
        ("Delivery", {"fields": ("send_count", "last_sent_at", "delivery_status", "delivery_error")}),
        ("Timestamps", {"fields": ("created_at",)}),
    )

    @admin.display(description="status")
    def status_display(self, obj: IssuedCode) -> str:
        return CodeStatus(obj.status).label

    def get_readonly_fields(self, request, obj=None):
        return [name for _, section in self.fieldsets for name in section["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("credentials.change_issuedcode")

    @admin.action(description="Revoke the selected outstanding codes", permissions=["revoke"])
    def revoke(self, request, queryset):
        actor = Actor.from_request(request)
        revoked = sum(
            services.code_revoke(issued=issued, actor=actor)
            for issued in queryset.outstanding(timezone.now()).select_related("organization")
        )
        self.message_user(request, f"Revoked {revoked} outstanding codes.", messages.SUCCESS)
