from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from otpusers import services
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
    ApiKey,
    AppAccess,
    AuditEvent,
    Organization,
    OtpUser,
    PublishedApplication,
    Store,
)
from otpusers.registry import permission_choices


class LargeTableAdmin(IndexedSearchMixin, admin.ModelAdmin):
    """A changelist over millions of rows: searched through indexes, counted up to a bound, no facet
    counts (each would count the whole table), sorted only in the default order its index serves."""

    paginator = BoundedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    sortable_by = ()

    def get_changelist(self, request, **kwargs):
        return LargeTableChangeList


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
class OtpUserAdmin(LargeTableAdmin, AuditedAdmin):
    list_display = ("__str__", "email", "user_name", "mobile", "organization", "is_valid", "last_login_at")
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

    def search_conditions(self, request, term):
        return person_conditions(term)

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
            return queryset.filter(NO_DOWNLOADS_LEFT)
        return queryset


class ApplicationOrganizationFilter(admin.SimpleListFilter):
    """An organization's accesses through its published applications' ids: the planner then sees how few
    accesses a small organization has (statistics on published_application_id) and reads them by that
    index, where a join to the organization would have it walk every access, newest first."""

    title = "organization"
    parameter_name = "organization"

    def lookups(self, request, model_admin):
        return [(str(organization.pk), organization.name) for organization in Organization.objects.order_by("name")]

    def queryset(self, request, queryset):
        if self.value() is None or as_integer(self.value()) is None:
            return queryset
        applications = PublishedApplication.objects.filter(store__organization_id=self.value())
        return queryset.filter(published_application_id__in=matching_ids(applications))


@admin.register(AppAccess)
class AppAccessAdmin(LargeTableAdmin):
    list_display = (
        "email",
        "published_application",
        "allowed_downloads_num",
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
    readonly_fields = ("public_id", "downloads_used", "last_login_at", "last_download_at", *TIMESTAMPS)
    fieldsets = (
        (None, {"fields": ("otp_user", "published_application", "public_id")}),
        ("Allowance", {"fields": ("allowed_downloads_num", "downloads_used")}),
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
        fields = ("organization", "name", "permissions", "expires_at", "requests_per_minute")


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
class AuditEventAdmin(LargeTableAdmin, ReadOnlyAdmin):
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
