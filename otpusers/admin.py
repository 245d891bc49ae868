from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from import_export.admin import ExportMixin, ImportExportMixin
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import RangeDateFilter
from unfold.decorators import action
from unfold.utils import parse_date_str
from unfold.widgets import UnfoldAdminCheckboxSelectMultipleWidget

from otpusers import services
from otpusers.admin_actions import ConfirmForm, ReasonForm, action_page, back_to_object, object_for_action
from otpusers.admin_scoping import (
    OrganizationScopedAdmin,
    ScopedImportExportMixin,
    ScopedInlineMixin,
    sees_every_organization,
    visible_organization_ids,
)
from otpusers.admin_search import (
    BoundedCountPaginator,
    IndexedSearchMixin,
    LargeTableChangeList,
    as_integer,
    as_public_id,
    matching_ids,
    person_conditions,
    person_ids_named_by,
)
from otpusers.audit import Actor, audit_record
from otpusers.models import (
    NO_DOWNLOADS_LEFT,
    UNLIMITED_DOWNLOADS,
    ApiKey,
    AppAccess,
    AuditEvent,
    Organization,
    OtpUser,
    PublishedApplication,
    Store,
)
from otpusers.registry import permission_choices_by_surface
from otpusers.resources import AppAccessResource, AuditEventResource, PersonResource


class LargeTableAdmin(IndexedSearchMixin, OrganizationScopedAdmin):
    """A changelist over millions of rows: searched through indexes, counted up to a bound, no facet
    counts (each would count the whole table), sorted only in the default order its index serves."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    sortable_by = ()

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList


class AuditedAdmin(OrganizationScopedAdmin):
    """Records an AuditEvent for each save and delete of a model that has no service of its own."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            actor=Actor.from_request(request),
            action=f"{obj._meta.model_name}.{'update' if change else 'create'}",
            organization=self.organization_of(obj),
            target=obj,
            detail={"changed": form.changed_data},
        )

    def delete_model(self, request, obj):
        audit_record(
            actor=Actor.from_request(request),
            action=f"{obj._meta.model_name}.delete",
            organization=self.organization_of(obj),
            target=obj,
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class ReadOnlyAdmin(OrganizationScopedAdmin):
    """A record nobody edits by hand (an audit trail, issued codes): listed, searched and viewed only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


TIMESTAMPS = ("created_at", "updated_at")


def allowance_label(allowed_downloads_num: int) -> str:
    return "Unlimited" if allowed_downloads_num == UNLIMITED_DOWNLOADS else str(allowed_downloads_num)


#
# Organizations, stores, published applications
#


class StoreInline(ScopedInlineMixin, TabularInline):
    model = Store
    fields = ("name", "slug", "security", "public_id")
    readonly_fields = ("public_id",)
    extra = 0
    show_change_link = True


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    organization_path = ""
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

    def get_readonly_fields(self, request, obj=None):
        # Who is staff of which organization is the superusers' call: the user list spans organizations.
        if sees_every_organization(request.user):
            return self.readonly_fields
        return (*self.readonly_fields, "staff")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not sees_every_organization(request.user):
            obj.staff.add(request.user)


class PublishedApplicationInline(ScopedInlineMixin, TabularInline):
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


@admin.register(PublishedApplication)
class PublishedApplicationAdmin(AuditedAdmin):
    organization_path = "store__organization"
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


class AppAccessInline(ScopedInlineMixin, TabularInline):
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
    verbose_name_plural = "app accesses (allowed downloads: -1 is unlimited)"
    extra = 0
    show_change_link = True


@admin.register(OtpUser)
class OtpUserAdmin(ScopedImportExportMixin, ImportExportMixin, LargeTableAdmin, AuditedAdmin):
    resource_classes = [PersonResource]
    list_display = ("email", "full_name", "user_name", "mobile", "organization", "is_valid", "last_login_at")
    list_display_links = ("email", "full_name")
    list_filter = ("is_valid", "organization", "created_at")
    list_select_related = ("organization",)
    search_fields = ("email", "user_name", "mobile", "external_id", "ext_id", "first_name", "last_name")
    search_help_text = (
        "An email, mobile, user name or external id (exact, any case), an id or a UUID; "
        "or three letters or more of an email, mobile, user name or name."
    )
    readonly_fields = ("uuid", "last_login_at", *TIMESTAMPS)
    autocomplete_fields = ("organization",)
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
    actions_detail = ("deactivate", "audit_trail")

    def search_conditions(self, request, term):
        return person_conditions(term)

    @action(description="Deactivate", url_path="deactivate", icon="person_off", permissions=["change"])
    def deactivate(self, request, object_id):
        person = object_for_action(self, request, object_id)
        if not person.is_valid:
            return back_to_object(self, request, person, "The person is already deactivated.", messages.WARNING)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            intro = "No code will be issued to this person or accepted from them until they are made valid again."
            return action_page(
                self, request, person, title=f"Deactivate {person}", form=form, submit="Deactivate", intro=intro
            )
        services.otp_user_deactivate(
            person=person, reason=form.cleaned_data["reason"], actor=Actor.from_request(request)
        )
        return back_to_object(self, request, person, f"{person} is deactivated.")

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj: OtpUser) -> str:
        return " ".join(part for part in (obj.first_name, obj.last_name) if part) or "—"

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
        return (
            ("unlimited", "Unlimited"),
            ("left", "Some left"),
            ("nearly", "One or none left"),
            ("none", "None left"),
        )

    def queryset(self, request, queryset):
        if self.value() == "unlimited":
            return queryset.filter(allowed_downloads_num=-1)
        if self.value() == "left":
            return queryset.filter(allowed_downloads_num__gt=F("downloads_used"))
        if self.value() == "nearly":
            # The expression the partial index otpusers_access_left serves.
            return queryset.alias(left=F("allowed_downloads_num") - F("downloads_used")).filter(
                allowed_downloads_num__gte=0, left__lte=1
            )
        if self.value() == "none":
            return queryset.filter(NO_DOWNLOADS_LEFT)
        return queryset


class ApplicationOrganizationFilter(admin.SimpleListFilter):
    """An organization's accesses through its published applications' ids: the planner then sees how few
    accesses a small organization has (statistics on published_application_id) and reads them by that
    index, where a join to the organization would have it walk every access, newest first."""

    title = "organization"
    parameter_name = "organization"

    def lookups(self, request, model_admin):
        organizations = Organization.objects.order_by("name")
        if not sees_every_organization(request.user):
            organizations = organizations.filter(pk__in=visible_organization_ids(request))
        return [(str(organization.pk), organization.name) for organization in organizations]

    def queryset(self, request, queryset):
        if self.value() is None or as_integer(self.value()) is None:
            return queryset
        applications = PublishedApplication.objects.filter(store__organization_id=self.value())
        return queryset.filter(published_application_id__in=matching_ids(applications))


@admin.register(AppAccess)
class AppAccessAdmin(ScopedImportExportMixin, ImportExportMixin, LargeTableAdmin):
    resource_classes = [AppAccessResource]
    organization_path = "published_application__store__organization"
    list_display = (
        "email",
        "published_application",
        "allowance",
        "downloads_used",
        "last_login_at",
        "last_download_at",
        "created_at",
    )
    list_filter = (DownloadsLeftFilter, ApplicationOrganizationFilter, "published_application")
    list_select_related = ("otp_user", "published_application")
    search_fields = ("otp_user__email", "public_id")
    search_help_text = "The person's email, mobile, user name, external id or id (exact, any case), or the OTP-user id."
    autocomplete_fields = ("otp_user", "published_application")
    sortable_by = ("created_at",)
    readonly_fields = (
        "public_id",
        "downloads_used",
        "allowance_left",
        "last_login_at",
        "last_download_at",
        *TIMESTAMPS,
    )
    fieldsets = (
        (None, {"fields": ("otp_user", "published_application", "public_id")}),
        ("Allowance", {"fields": ("allowed_downloads_num", "downloads_used", "allowance_left")}),
        ("Activity", {"fields": ("last_login_at", "last_download_at", *TIMESTAMPS)}),
    )

    @admin.display(description="person")
    def email(self, obj: AppAccess) -> str:
        return str(obj.otp_user)

    def search_conditions(self, request, term):
        condition = Q(otp_user_id__in=person_ids_named_by(term))
        if (public_id := as_public_id(term)) is not None:
            condition |= Q(public_id=public_id)
        return condition

    @admin.display(description="allowed downloads", ordering="allowed_downloads_num")
    def allowance(self, obj: AppAccess) -> str:
        return allowance_label(obj.allowed_downloads_num)

    @admin.display(description="downloads left")
    def allowance_left(self, obj: AppAccess) -> str:
        if obj.pk is None:
            return "—"
        return "Unlimited" if obj.downloads_left is None else str(obj.downloads_left)

    actions_detail = ("reset_downloads", "set_unlimited", "audit_trail")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("otp_user", "published_application", *self.readonly_fields)
        return self.readonly_fields

    @action(description="Reset downloads used", url_path="reset-downloads", icon="restart_alt", permissions=["change"])
    def reset_downloads(self, request, object_id):
        access = object_for_action(self, request, object_id)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            intro = f"{access.downloads_used} downloads used so far; the count goes back to 0."
            return action_page(
                self, request, access, title="Reset downloads used", form=form, submit="Reset", intro=intro
            )
        services.app_access_reset_downloads(
            access=access, reason=form.cleaned_data["reason"], actor=Actor.from_request(request)
        )
        return back_to_object(self, request, access, "Downloads used reset to 0.")

    @action(description="Set unlimited", url_path="set-unlimited", icon="all_inclusive", permissions=["change"])
    def set_unlimited(self, request, object_id):
        access = object_for_action(self, request, object_id)
        form = ConfirmForm(request.POST if request.method == "POST" else None)
        if request.method != "POST" or not form.is_valid():
            return action_page(
                self, request, access, title="Allow unlimited downloads", form=form, submit="Set unlimited"
            )
        services.app_access_update(
            access=access, allowed_downloads_num=UNLIMITED_DOWNLOADS, actor=Actor.from_request(request)
        )
        return back_to_object(self, request, access, "Downloads are now unlimited.")

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
        choices=permission_choices_by_surface,
        widget=UnfoldAdminCheckboxSelectMultipleWidget,
        required=False,
        help_text="The documented permission names this key holds, by the surface that checks them.",
    )

    class Meta:
        model = ApiKey
        fields = ("organization", "name", "permissions", "expires_at", "requests_per_minute")


class ApiKeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (
            ("active", "Active"),
            ("expiring", "Expiring within 14 days"),
            ("unused", "Unused for 30 days"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
        )

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now, revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expiring":
            return queryset.filter(
                revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + timedelta(days=14)
            )
        if self.value() == "unused":
            month_ago = now - timedelta(days=30)
            return queryset.filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lte=month_ago),
                Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                revoked_at__isnull=True,
                created_at__lte=month_ago,
            )
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin):
    form = ApiKeyForm
    list_display = ("name", "organization", "key_id", "status", "expires_at", "last_used_at", "created_at")
    list_filter = (ApiKeyStatusFilter, "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "key_id", "organization__name")
    search_help_text = "Name, key id or organization."
    autocomplete_fields = ("organization",)
    readonly_fields = ("key_id", "revoked_at", "last_used_at", "created_by", *TIMESTAMPS)
    actions = ("revoke",)
    actions_detail = ("rotate", "revoke_key", "audit_trail")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("organization", "name", "permissions", "expires_at", "requests_per_minute")}),)
        return (
            (None, {"fields": ("organization", "name", "key_id")}),
            ("Permissions", {"fields": ("permissions", "expires_at", "requests_per_minute")}),
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
                requests_per_minute=form.cleaned_data["requests_per_minute"],
                actor=actor,
            )
            return
        created, secret = services.api_key_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            permissions=form.cleaned_data["permissions"],
            expires_at=form.cleaned_data["expires_at"],
            requests_per_minute=form.cleaned_data["requests_per_minute"],
            actor=actor,
        )
        for model_field in ApiKey._meta.concrete_fields:
            setattr(obj, model_field.attname, getattr(created, model_field.attname))
        obj._state.adding = False
        obj.issued_token = services.api_key_token(created, secret)

    def response_add(self, request, obj, post_url_continue=None):
        """Shows the secret this once, on the page that answers the add form, and never again."""
        return self._secret_page(request, obj, obj.issued_token, f"API key {obj.name} created")

    def _secret_page(self, request, api_key: ApiKey, token: str, title: str) -> TemplateResponse:
        response = TemplateResponse(
            request,
            "admin/otpusers/apikey/secret.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "api_key": api_key,
                "original": api_key,
                "token": token,
                "credentials": services.api_key_credentials(api_key, token.partition(".")[2]),
                "title": title,
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @action(description="Rotate the secret", url_path="rotate", icon="autorenew", permissions=["change"])
    def rotate(self, request, object_id):
        api_key = object_for_action(self, request, object_id)
        form = ConfirmForm(request.POST if request.method == "POST" else None)
        if request.method != "POST" or not form.is_valid():
            intro = (
                "A new secret is made and shown once. The current secret stops working at once: every client "
                "using it gets 401 until it sends the new one."
            )
            return action_page(
                self, request, api_key, title=f"Rotate {api_key}", form=form, submit="Rotate", intro=intro
            )
        secret = services.api_key_rotate(api_key=api_key, actor=Actor.from_request(request))
        token = services.api_key_token(api_key, secret)
        return self._secret_page(request, api_key, token, f"API key {api_key.name}: new secret")

    @action(description="Revoke", url_path="revoke", icon="block", permissions=["change"])
    def revoke_key(self, request, object_id):
        api_key = object_for_action(self, request, object_id)
        if api_key.revoked_at:
            return back_to_object(self, request, api_key, "The key is already revoked.", messages.WARNING)
        form = ConfirmForm(request.POST if request.method == "POST" else None)
        if request.method != "POST" or not form.is_valid():
            intro = "The key stops working at once, for good."
            return action_page(
                self, request, api_key, title=f"Revoke {api_key}", form=form, submit="Revoke", intro=intro
            )
        services.api_key_revoke(api_key=api_key, actor=Actor.from_request(request))
        return back_to_object(self, request, api_key, f"{api_key} is revoked.")

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key, actor=Actor.from_request(request))
        self.message_user(request, f"Revoked {queryset.count()} API keys.", messages.SUCCESS)


#
# Audit trail
#


# The actions services record, for the audit list's filter (listing them from the table would scan it).
AUDIT_ACTIONS = (
    "api_key.authenticate",
    "api_key.create",
    "api_key.revoke",
    "api_key.rotate",
    "api_key.update",
    "app_access.create",
    "app_access.delete",
    "app_access.download",
    "app_access.login",
    "app_access.reset_downloads",
    "app_access.update",
    "card.challenge",
    "card.create",
    "card.delete",
    "card.login",
    "card.low_on_challenges",
    "card.read_back",
    "card.replace",
    "card.update",
    "code.deliver",
    "code.issue",
    "code.read_back",
    "code.resend",
    "code.revoke",
    "code.verify",
    "otp_user.create",
    "otp_user.deactivate",
    "otpuser.update",
    "store.code_request",
    "store.sign_in",
)


class AuditActionFilter(admin.SimpleListFilter):
    title = "action"
    parameter_name = "action"

    def lookups(self, request, model_admin):
        return [(action, action) for action in AUDIT_ACTIONS]

    def queryset(self, request, queryset):
        return queryset.filter(action=self.value()) if self.value() else queryset


# Values of an audit event's detail that other apps record, offered by the audit list's detail filters: each
# app's admin module names its own (credentials: the scopes and surfaces of code.issue and code.verify).
AUDIT_DETAIL_CHOICES: dict[str, list[tuple[str, str]]] = {"surface": [], "scope": []}


class AuditDetailFilter(admin.SimpleListFilter):
    """Events whose detail holds this value under the key `parameter_name`. Meant beside the action filter
    and the date range (as the dashboard's links use it), whose index narrows the rows it looks at.
    `missing_reads_as`: the value an event without the key counts as (recorded before the key was)."""

    missing_reads_as = None

    def lookups(self, request, model_admin):
        return AUDIT_DETAIL_CHOICES[self.parameter_name]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        condition = Q(**{f"detail__{self.parameter_name}": value})
        if value == self.missing_reads_as:
            condition |= Q(**{f"detail__{self.parameter_name}__isnull": True})
        return queryset.filter(condition)


class AuditSurfaceFilter(AuditDetailFilter):
    title = "surface"
    parameter_name = "surface"
    missing_reads_as = "unknown"


class AuditScopeFilter(AuditDetailFilter):
    title = "scope"
    parameter_name = "scope"


class DayRangeFilter(RangeDateFilter):
    """From one day to another, both included (the stock filter stops at the first moment of the last day),
    as an indexed range on the timestamp."""

    def queryset(self, request, queryset):
        bounds = {}
        first = parse_date_str(self.used_parameters.get(f"{self.parameter_name}_from") or "")
        last = parse_date_str(self.used_parameters.get(f"{self.parameter_name}_to") or "")
        if first:
            bounds[f"{self.parameter_name}__gte"] = datetime.combine(first, time.min, tzinfo=UTC)
        if last:
            bounds[f"{self.parameter_name}__lt"] = datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)
        return queryset.filter(**bounds)


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedImportExportMixin, ExportMixin, LargeTableAdmin, ReadOnlyAdmin):
    """Exported over the date range the list is filtered to."""

    resource_classes = [AuditEventResource]
    list_display = (
        "when",
        "action",
        "outcome",
        "reason",
        "actor_label",
        "organization",
        "object_type",
        "object_id",
        "client_ip",
    )
    list_filter = (
        ("created_at", DayRangeFilter),
        AuditActionFilter,
        "outcome",
        AuditSurfaceFilter,
        AuditScopeFilter,
        "actor_type",
        "organization",
    )
    list_filter_submit = True
    list_select_related = ("organization",)
    search_fields = ("=object_id", "=request_id", "=action", "=api_key__key_id", "=user__username")
    search_help_text = (
        "Exact object id, request id or action (code.verify); an API key's id or name; a staff user name."
    )
    sortable_by = ("created_at",)
    search_by_word = False

    def search_conditions(self, request, term):
        condition = Q(object_id=term) | Q(request_id=term) | Q(action=term)
        if (number := as_integer(term)) is not None:
            condition |= Q(pk=number)
        # Few keys and staff users: their ids first, then the audit table's own foreign-key indexes.
        if api_keys := matching_ids(ApiKey.objects.filter(Q(key_id=term.lower()) | Q(name__iexact=term))):
            condition |= Q(api_key_id__in=api_keys)
        user_model = get_user_model()
        if users := matching_ids(user_model.objects.filter(**{user_model.USERNAME_FIELD: term})):
            condition |= Q(user_id__in=users)
        return condition

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in AuditEvent._meta.fields]

    @admin.display(description="when (UTC)", ordering="created_at")
    def when(self, obj: AuditEvent) -> str:
        return obj.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
