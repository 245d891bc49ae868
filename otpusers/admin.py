from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import F, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from otpusers import services
from otpusers.audit import Actor, audit_record
from otpusers.models import ApiKey, AppAccess, AuditEvent, Organization, OtpUser, PublishedApplication, Store
from otpusers.registry import permission_choices


class BoundedCountPaginator(Paginator):
    """Counts at most a little past what a person pages through, so a changelist over millions of rows
    never runs an unbounded COUNT(*)."""

    COUNT_LIMIT = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.COUNT_LIMIT + 1].count()


class AuditedAdmin(admin.ModelAdmin):
    """Records an AuditEvent for each save and delete of a model that has no service of its own."""

    def _organization_of(self, obj) -> Organization | None:
        return None

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=Actor.from_request(request),
            action=f"{obj._meta.model_name}.{'update' if change else 'create'}",
            organization=self._organization_of(obj),
            target=obj,
            detail={"changed": form.changed_data},
        )

    def delete_model(self, request, obj):
        audit_record(
            actor=Actor.from_request(request),
            action=f"{obj._meta.model_name}.delete",
            organization=self._organization_of(obj),
            target=obj,
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """A record nobody edits by hand (an audit trail, issued codes): listed, searched and viewed only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


TIMESTAMPS = ("created_at", "updated_at")


#
# Organizations, stores, published applications
#


class StoreInline(admin.TabularInline):
    model = Store
    fields = ("name", "slug", "security", "public_id")
    readonly_fields = ("public_id",)
    extra = 0
    show_change_link = True


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = (
        "name",
        "slug",
        "ext_id",
        "public_id",
        "daily_issue_limit",
        "code_read_back_allowed",
        "created_at",
    )
    search_fields = ("name", "slug", "ext_id", "public_id")
    search_help_text = "Name, slug, external id or public id."
    list_filter = ("code_read_back_allowed", "created_at")
    readonly_fields = ("public_id", *TIMESTAMPS)
    filter_horizontal = ("staff",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "ext_id", "public_id")}),
        (
            "One-time codes",
            {
                "fields": (
                    ("code_length", "code_alphabet"),
                    ("code_validity_seconds", "code_max_attempts"),
                    ("daily_issue_limit", "resend_cooldown_seconds"),
                    "code_read_back_allowed",
                )
            },
        ),
        ("Staff", {"fields": ("staff",)}),
        ("Timestamps", {"fields": TIMESTAMPS}),
    )
    inlines = (StoreInline,)

    def _organization_of(self, obj):
        return obj


class PublishedApplicationInline(admin.TabularInline):
    model = PublishedApplication
    fields = ("name", "slug", "visibility", "application_public_id", "public_id")
    readonly_fields = ("public_id",)
    extra = 0
    show_change_link = True


@admin.register(Store)
class StoreAdmin(AuditedAdmin):
    list_display = ("name", "organization", "slug", "security", "public_id", "created_at")
    list_filter = ("security", "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "slug", "public_id", "organization__name", "organization__slug")
    search_help_text = "Name, slug, public id or organization."
    readonly_fields = ("public_id", *TIMESTAMPS)
    autocomplete_fields = ("organization",)
    fieldsets = (
        (None, {"fields": ("organization", "name", "slug", "security", "public_id")}),
        ("Timestamps", {"fields": TIMESTAMPS}),
    )
    inlines = (PublishedApplicationInline,)

    def _organization_of(self, obj):
        return obj.organization


@admin.register(PublishedApplication)
class PublishedApplicationAdmin(AuditedAdmin):
    list_display = ("name", "store", "slug", "visibility", "application_public_id", "public_id", "created_at")
    list_filter = ("visibility", "store__organization", "store")
    list_select_related = ("store__organization",)
    search_fields = ("name", "slug", "public_id", "application_public_id", "store__name")
    search_help_text = "Name, slug, public id, application id or store."
    readonly_fields = ("public_id", *TIMESTAMPS)
    autocomplete_fields = ("store",)
    fieldsets = (
        (None, {"fields": ("store", "name", "slug", "visibility", "public_id")}),
        ("Build", {"fields": ("application_public_id", "build_file", "notify_otp_users_on_new_build")}),
        ("Timestamps", {"fields": TIMESTAMPS}),
    )

    def _organization_of(self, obj):
        return obj.store.organization

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if "build_file" in form.changed_data and obj.build_file:
            store_page = reverse("store:page", kwargs={"store_slug": obj.store.slug, "app_slug": obj.slug})
            services.published_application_announce_build(
                published_application=obj,
                store_page_url=request.build_absolute_uri(store_page),
                actor=Actor.from_request(request),
            )


#
# People and their app accesses
#


class AppAccessInlineForm(forms.ModelForm):
    class Meta:
        model = AppAccess
        fields = ("published_application", "allowed_downloads_num")


class AppAccessInline(admin.TabularInline):
    model = AppAccess
    form = AppAccessInlineForm
    fields = (
        "published_application",
        "allowed_downloads_num",
        "downloads_used",
        "last_login_at",
        "last_download_at",
        "public_id",
    )
    readonly_fields = ("downloads_used", "last_login_at", "last_download_at", "public_id")
    autocomplete_fields = ("published_application",)
    extra = 0
    show_change_link = True


@admin.register(OtpUser)
class OtpUserAdmin(AuditedAdmin):
    list_display = ("__str__", "email", "user_name", "mobile", "organization", "is_valid", "last_login_at")
    list_filter = ("is_valid", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("email", "user_name", "mobile", "external_id", "ext_id", "first_name", "last_name")
    search_help_text = "Email, user name, mobile, external ids or name."
    readonly_fields = ("uuid", "last_login_at", *TIMESTAMPS)
    autocomplete_fields = ("organization",)
    show_full_result_count = False
    paginator = BoundedCountPaginator
    fieldsets = (
        (None, {"fields": ("organization", "first_name", "last_name")}),
        ("Identifiers", {"fields": ("email", "mobile", "user_name", "external_id", "wechat_id", "ext_id")}),
        (
            "Profile",
            {
                "fields": (
                    ("nick_name", "text_number"),
                    ("is_valid", "rollout_stage"),
                    ("password_expires_at", "force_password_change"),
                    ("latest_invite_status", "latest_invite_date", "latest_invite_uuid"),
                    "uuid",
                )
            },
        ),
        ("Timestamps", {"fields": ("last_login_at", *TIMESTAMPS)}),
    )
    inlines = (AppAccessInline,)

    def _organization_of(self, obj):
        return obj.organization

    def save_formset(self, request, form, formset, change):
        if formset.model is not AppAccess:
            return super().save_formset(request, form, formset, change)
        actor = Actor.from_request(request)
        # The admin's change message reads these three lists, which formset.save() would have filled.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline_form in formset.initial_forms + formset.extra_forms:
            access = inline_form.instance
            if access.pk is not None and formset._should_delete_form(inline_form):
                services.app_access_delete(access=access, actor=actor)
                formset.deleted_objects.append(access)
            elif access.pk is None and inline_form.has_changed():
                created = services.app_access_create(
                    published_application=inline_form.cleaned_data["published_application"],
                    otp_user=form.instance,
                    allowed_downloads_num=inline_form.cleaned_data["allowed_downloads_num"],
                    actor=actor,
                )
                formset.new_objects.append(created)
            elif access.pk is not None and "allowed_downloads_num" in inline_form.changed_data:
                services.app_access_update(
                    access=access,
                    allowed_downloads_num=inline_form.cleaned_data["allowed_downloads_num"],
                    actor=actor,
                )
                formset.changed_objects.append((access, ["allowed_downloads_num"]))
        return None


class DownloadsLeftFilter(admin.SimpleListFilter):
    title = "downloads left"
    parameter_name = "downloads"

    def lookups(self, request, model_admin):
        return (("unlimited", "Unlimited"), ("left", "Some left"), ("none", "None left"))

    def queryset(self, request, queryset):
        if self.value() == "unlimited":
            return queryset.filter(allowed_downloads_num=-1)
        if self.value() == "left":
            return queryset.filter(allowed_downloads_num__gt=F("downloads_used"))
        if self.value() == "none":
            return queryset.filter(allowed_downloads_num__gte=0, allowed_downloads_num__lte=F("downloads_used"))
        return queryset


@admin.register(AppAccess)
class AppAccessAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "published_application",
        "allowed_downloads_num",
        "downloads_used",
        "last_login_at",
        "last_download_at",
        "created_at",
    )
    list_filter = (DownloadsLeftFilter, "published_application__store__organization", "published_application")
    list_select_related = ("otp_user", "published_application")
    search_fields = ("otp_user__email", "public_id", "published_application__name")
    search_help_text = "Email, OTP-user id or published application."
    autocomplete_fields = ("otp_user", "published_application")
    show_full_result_count = False
    paginator = BoundedCountPaginator
    readonly_fields = ("public_id", "downloads_used", "last_login_at", "last_download_at", *TIMESTAMPS)
    fieldsets = (
        (None, {"fields": ("otp_user", "published_application", "public_id")}),
        ("Allowance", {"fields": ("allowed_downloads_num", "downloads_used")}),
        ("Activity", {"fields": ("last_login_at", "last_download_at", *TIMESTAMPS)}),
    )

    @admin.display(description="person", ordering="otp_user__email")
    def email(self, obj: AppAccess) -> str:
        return str(obj.otp_user)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("otp_user", "published_application", *self.readonly_fields)
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        if change:
            services.app_access_update(
                access=obj, allowed_downloads_num=form.cleaned_data["allowed_downloads_num"], actor=actor
            )
        else:
            created = services.app_access_create(
                published_application=form.cleaned_data["published_application"],
                otp_user=form.cleaned_data["otp_user"],
                allowed_downloads_num=form.cleaned_data["allowed_downloads_num"],
                actor=actor,
            )
            obj.pk, obj.public_id, obj._state.adding = created.pk, created.public_id, False

    def delete_model(self, request, obj):
        services.app_access_delete(access=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for access in queryset.select_related("otp_user", "published_application__store__organization"):
            services.app_access_delete(access=access, actor=Actor.from_request(request))


#
# API keys
#


class ApiKeyForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=permission_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="The documented permission names this key holds.",
    )

    class Meta:
        model = ApiKey
        fields = ("organization", "name", "permissions", "expires_at")


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("active", "Active"), ("expired", "Expired"), ("revoked", "Revoked"))

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now, revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "organization", "key_id", "status", "expires_at", "last_used_at", "created_at")
    list_filter = (ApiKeyStatusFilter, "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "key_id", "organization__name")
    search_help_text = "Name, key id or organization."
    autocomplete_fields = ("organization",)
    readonly_fields = ("key_id", "revoked_at", "last_used_at", "created_by", *TIMESTAMPS)
    actions = ("revoke",)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("organization", "name", "permissions", "expires_at")}),)
        return (
            (None, {"fields": ("organization", "name", "key_id")}),
            ("Permissions", {"fields": ("permissions", "expires_at")}),
            ("State", {"fields": ("revoked_at", "last_used_at", "created_by", *TIMESTAMPS)}),
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("organization", *self.readonly_fields)
        return self.readonly_fields

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        if obj.revoked_at:
            return "revoked"
        return "active" if obj.is_usable() else "expired"

    def save_model(self, request, obj, form, change):
        actor = Actor.from_request(request)
        if change:
            services.api_key_update(
                api_key=obj,
                name=form.cleaned_data["name"],
                permissions=form.cleaned_data["permissions"],
                expires_at=form.cleaned_data["expires_at"],
                actor=actor,
            )
            return
        created, secret = services.api_key_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data["permissions"],
            expires_at=form.cleaned_data["expires_at"],
            actor=actor,
        )
        for model_field in ApiKey._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(created, model_field.attname))
        obj._state.adding = False
        obj.issued_token = services.api_key_token(created, secret)

    def response_add(self, request, obj, post_url_continue=None):
        """Shows the secret this once, on the page that answers the add form, and never again."""
        response = TemplateResponse(
            request,
            "admin/otpusers/apikey/secret.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "api_key": obj,
                "token": obj.issued_token,
                "title": f"API key {obj.name} created",
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key, actor=Actor.from_request(request))
        self.message_user(request, f"Revoked {queryset.count()} API keys.", messages.SUCCESS)


#
# Audit trail
#


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "action",
        "outcome",
        "reason",
        "actor_label",
        "organization",
        "object_type",
        "object_id",
        "client_ip",
    )
    list_filter = ("outcome", "actor_type", "organization")
    list_select_related = ("organization",)
    search_fields = ("=object_id", "=request_id", "action", "actor_label")
    search_help_text = "Exact object id or request id; action or actor."
    show_full_result_count = False
    paginator = BoundedCountPaginator

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in AuditEvent._meta.fields]
