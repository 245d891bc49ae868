from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django_tasks_db import admin as tasks_db_admin
from django_tasks_db.models import DBTaskResult
from import_export.admin import ExportMixin
from unfold.admin import TabularInline
from unfold.decorators import action as unfold_action
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from credentials import services
from credentials.card import Geometry, InvalidTransition
from credentials.choices import CardState, Channel, CodeStatus, IdentifierType, Scope, Surface
from credentials.models import CardPolicy, DeliveryAttempt, IssuedCode, NewBuildEmail, OtpCard
from credentials.resources import IssuedCodeResource, OtpCardResource
from otpusers.admin import AUDIT_DETAIL_CHOICES, LargeTableAdmin, OtpUserAdmin, ReadOnlyAdmin
from otpusers.admin_actions import CardReasonForm, action_page, back_to_object, object_for_action
from otpusers.admin_scoping import OrganizationScopedAdmin, ScopedImportExportMixin, ScopedInlineMixin
from otpusers.admin_search import as_integer, as_public_id, matching_ids, person_ids_named_by
from otpusers.audit import Actor
from otpusers.models import Organization, OtpUser

# The audit list's filters on what the code flows record in each event's detail.
AUDIT_DETAIL_CHOICES["surface"] = Surface.choices
AUDIT_DETAIL_CHOICES["scope"] = Scope.choices


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
            if connection.vendor == "sqlite":  # `make run`'s database has no JSON containment
                return queryset.filter(channels__icontains=f'"{self.value()}"')
            return queryset.filter(channels__contains=[self.value()])
        return queryset


class DeliveryAttemptInline(admin.TabularInline):
    """Each try at sending the code, as the delivery worker recorded it: staff see why a code did not arrive."""

    model = DeliveryAttempt
    fields = ("started_at", "channel", "number", "outcome", "duration_ms", "provider_answer", "send_id")
    readonly_fields = fields
    ordering = ("-started_at", "-id")
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "delivery attempts"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IssuedCode)
class IssuedCodeAdmin(ScopedImportExportMixin, ExportMixin, LargeTableAdmin, ReadOnlyAdmin):
    resource_classes = [IssuedCodeResource]
    """Read-only: codes are issued through the API and the store page. The code itself is never shown."""

    list_display = (
        "created_at",
        "identifier_value",
        "scope",
        "surface",
        "status_display",
        "attempts",
        "send_count",
        "delivery_status",
        "valid_until",
        "organization",
    )
    list_filter = (
        CodeStatusFilter,
        "scope",
        "surface",
        ChannelFilter,
        "delivery_status",
        "created_at",
        "organization",
    )
    list_select_related = ("organization",)
    search_fields = ("=public_id", "=otp_user__email", "=otp_user__mobile")
    search_help_text = (
        "The recipient's email, mobile, user name or external id (exact, any case) or person id; a code's id or number."
    )
    sortable_by = ("created_at",)
    actions = ("revoke",)
    inlines = (DeliveryAttemptInline,)
    fieldsets = (
        (None, {"fields": ("public_id", "organization", "otp_user", "identifier_type", "identifier_value")}),
        ("Purpose", {"fields": ("scope", "source", "account_id", "channels_display")}),
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

    def search_conditions(self, request, term):
        # The recipient through the person it names (the people's identifier indexes, then the codes'
        # person index), not through identifier_value, which no index serves on ten million rows.
        condition = Q(otp_user_id__in=person_ids_named_by(term))
        if (public_id := as_public_id(term)) is not None:
            condition |= Q(public_id=public_id)
        if (number := as_integer(term)) is not None:
            condition |= Q(pk=number)
        return condition

    @admin.display(description="status")
    def status_display(self, obj: IssuedCode) -> str:
        return CodeStatus(obj.status).label

    @admin.display(description="channels")
    def channels_display(self, obj: IssuedCode) -> str:
        return ", ".join(Channel(channel).label if channel in Channel.values else channel for channel in obj.channels)

    def get_readonly_fields(self, request, obj=None):
        return [name for _, section in self.fieldsets for name in section["fields"]]

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


@admin.register(NewBuildEmail)
class NewBuildEmailAdmin(LargeTableAdmin, ReadOnlyAdmin):
    """Read-only: the delivery worker writes one row per person told of a new build, so that staff see who
    was told, who is still being retried and why an email failed."""

    list_display = ("created_at", "email", "application", "status", "number", "provider_answer", "organization")
    list_filter = ("status", "organization")
    list_select_related = ("organization", "published_application")
    search_fields = ("=email",)
    search_help_text = "The person's email, mobile, user name or external id (exact, any case) or person id."
    sortable_by = ("created_at",)
    fields = (
        "organization",
        "published_application",
        "otp_user",
        "email",
        "send_id",
        "status",
        "number",
        "provider_answer",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields

    def search_conditions(self, request, term):
        # Through the person (the people's identifier indexes, then the rows' person index).
        return Q(otp_user_id__in=person_ids_named_by(term))

    @admin.display(description="application")
    def application(self, obj: NewBuildEmail) -> str:
        return obj.published_application.name


#
# OTP cards
#


class LowOnChallengesFilter(admin.SimpleListFilter):
    title = "challenges left"
    parameter_name = "challenges"

    def lookups(self, request, model_admin):
        return (("low", "Low (under the policy's threshold)"), ("used-up", "None left"))

    def queryset(self, request, queryset):
        if self.value() == "low":
            # Per policy (a few), so that the index on cells_remaining finds the low cards.
            thresholds = CardPolicy.objects.values_list("pk", "low_on_challenges_threshold")
            low = Q(pk__in=[])
            for policy, threshold in thresholds:
                low |= Q(policy_id=policy, cells_remaining__lt=threshold)
            return queryset.filter(low)
        if self.value() == "used-up":
            return queryset.filter(cells_remaining=0)
        return queryset


CARD_ACTIONS = {
    # action: (description, target state or None for a new grid)
    "unlock": ("Unlock (set active)", CardState.ACTIVE),
    "disable": ("Disable", CardState.DISABLED),
    "archive": ("Archive", CardState.ARCHIVED),
    "replace": ("Replace the card (new grid)", None),
}


class OtpCardAddForm(forms.ModelForm):
    class Meta:
        model = OtpCard
        fields = ("otp_user", "policy", "ext_id")

    ext_id = forms.CharField(max_length=100, required=False, help_text="Generated when empty.")


@admin.register(OtpCard)
class OtpCardAdmin(ScopedImportExportMixin, ExportMixin, LargeTableAdmin):
    resource_classes = [OtpCardResource]
    """Cards are made with a generated grid and changed only through the actions, never edited by hand;
    the cells are shown only on the permissioned, audited print page."""

    list_display = (
        "ext_id",
        "otp_user",
        "state",
        "cells_remaining",
        "successful_login_count",
        "failed_login_count",
        "valid_to",
        "updated_at",
    )
    list_filter = ("state", LowOnChallengesFilter, "organization", "policy")
    list_select_related = ("otp_user", "policy")
    search_fields = ("=ext_id", "=otp_user__email", "=otp_user__ext_id", "=otp_user__user_name")
    search_help_text = "Exact card id, or the person's email, mobile, user name, external id or id (exact, any case)."
    autocomplete_fields = ("otp_user",)
    actions = tuple(CARD_ACTIONS)
    actions_detail = ("unlock_card", "disable_card", "archive_card", "replace_card", "audit_trail")
    fieldsets = (
        (None, {"fields": ("ext_id", "otp_user", "policy", "organization", "print_link")}),
        (
            "State",
            {
                "fields": (
                    "state",
                    "state_change_reason",
                    "state_change_detail",
                    "modification_comment",
                    "tmp_locked_until",
                    "valid_from",
                    "valid_to",
                    "version",
                )
            },
        ),
        (
            "Use",
            {
                "fields": (
                    "cells_remaining",
                    "latest_challenge",
                    "successful_login_count",
                    "failed_login_count",
                    "last_successful_login_at",
                    "last_failed_login_at",
                )
            },
        ),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = OtpCardAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("otp_user", "policy", "ext_id")}),)
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [name for _, section in self.fieldsets for name in section["fields"]]

    def has_change_permission(self, request, obj=None):
        # A card's page is read-only; changes go through the actions, which need the change permission.
        return obj is None and super().has_change_permission(request)

    def search_conditions(self, request, term):
        # A card id is unique per organization, and its index leads with the organization: naming them
        # all (a tenant list, short) lets that index answer where ext_id alone would read every card.
        organizations = matching_ids(Organization.objects.all())
        condition = Q(otp_user_id__in=person_ids_named_by(term)) | Q(organization_id__in=organizations, ext_id=term)
        if (public_id := as_public_id(term)) is not None:
            condition |= Q(public_id=public_id)
        return condition

    @admin.display(description="printable card")
    def print_link(self, obj: OtpCard) -> str:
        url = reverse("admin:credentials_otpcard_print", args=[obj.pk])
        return format_html('<a class="button" href="{}">Print the card</a> (shown to you, and audited)', url)

    def save_model(self, request, obj, form, change):
        created = services.card_create(
            person=form.cleaned_data["otp_user"],
            policy=form.cleaned_data["policy"],
            ext_id=form.cleaned_data["ext_id"],
            actor=Actor.from_request(request),
        )
        obj.pk, obj._state.adding = created.pk, False

    def delete_model(self, request, obj):
        services.card_delete(card=obj, actor=Actor.from_request(request))

    def delete_queryset(self, request, queryset):
        for card in queryset.select_related("organization"):
            services.card_delete(card=card, actor=Actor.from_request(request))

    def _card_action(self, request, queryset, name: str):
        description, target = CARD_ACTIONS[name]
        form = CardReasonForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return TemplateResponse(
                request,
                "admin/credentials/otpcard/action_reason.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": f"{description}: give a reason",
                    "cards": queryset,
                    "form": form,
                    "action": name,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                },
            )
        actor = Actor.from_request(request)
        refused = [refusal for card in queryset if (refusal := self._apply(card, name, form.cleaned_data, actor))]
        self.message_user(request, f"{description}: {len(queryset) - len(refused)} cards.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.WARNING)
        return None

    @staticmethod
    def _apply(card: OtpCard, name: str, cleaned_data: dict, actor: Actor) -> str | None:
        """Runs one card action through its service; the refusal, if any, as a message."""
        target, reason = CARD_ACTIONS[name][1], cleaned_data["reason"]
        try:
            if target is None:
                services.card_replace(card=card, comment=reason, actor=actor)
            else:
                services.card_set_state(
                    card=card, state=target, reason=reason, detail=cleaned_data["detail"], actor=actor
                )
        except InvalidTransition as error:
            return f"{card.ext_id}: {error}"
        return None

    def _card_detail_action(self, request, object_id: str, name: str):
        card = object_for_action(self, request, object_id)
        description = CARD_ACTIONS[name][0]
        form = CardReasonForm(request.POST if request.method == "POST" else None)
        if not form.is_valid():
            return action_page(
                self,
                request,
                card,
                title=f"{description}: card {card.ext_id}",
                form=form,
                submit=description,
                intro=f"The card is {card.get_state_display().lower()}. Give the reason staff and the person will see.",
            )
        refusal = self._apply(card, name, form.cleaned_data, Actor.from_request(request))
        if refusal:
            return back_to_object(self, request, card, refusal, messages.ERROR)
        return back_to_object(self, request, card, f"{description}: done.")

    def has_manage_card_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("credentials.change_otpcard")

    @unfold_action(description="Unlock", url_path="unlock", icon="lock_open", permissions=["manage_card"])
    def unlock_card(self, request, object_id):
        return self._card_detail_action(request, object_id, "unlock")

    @unfold_action(description="Disable", url_path="disable", icon="block", permissions=["manage_card"])
    def disable_card(self, request, object_id):
        return self._card_detail_action(request, object_id, "disable")

    @unfold_action(description="Archive", url_path="archive", icon="archive", permissions=["manage_card"])
    def archive_card(self, request, object_id):
        return self._card_detail_action(request, object_id, "archive")

    @unfold_action(description="Replace the grid", url_path="replace", icon="autorenew", permissions=["manage_card"])
    def replace_card(self, request, object_id):
        return self._card_detail_action(request, object_id, "replace")

    @admin.action(description="Unlock the selected cards (set active)", permissions=["change"])
    def unlock(self, request, queryset):
        return self._card_action(request, queryset, "unlock")

    @admin.action(description="Disable the selected cards", permissions=["change"])
    def disable(self, request, queryset):
        return self._card_action(request, queryset, "disable")

    @admin.action(description="Archive the selected cards", permissions=["change"])
    def archive(self, request, queryset):
        return self._card_action(request, queryset, "archive")

    @admin.action(description="Replace the selected cards (new grids)", permissions=["change"])
    def replace(self, request, queryset):
        return self._card_action(request, queryset, "replace")

    def get_urls(self):
        return [
            path(
                "<int:pk>/print/",
                self.admin_site.admin_view(self.print_view),
                name="credentials_otpcard_print",
            ),
            *super().get_urls(),
        ]

    def print_view(self, request, pk: int):
        """The card as the person gets it on paper: only for staff allowed to print, and audited."""
        if not request.user.has_perm("credentials.print_otpcard"):
            raise PermissionDenied
        card = self.get_queryset(request).select_related("otp_user", "organization").filter(pk=pk).first()
        if card is None:
            raise Http404
        cells = services.card_cells(card)
        services.card_audit_read(card=card, actor=Actor.from_request(request))
        geometry = Geometry(card.rows, card.cols, card.coordinate_card_format)
        rows = [
            [(geometry.challenge_name(row * card.cols + col), cells[row * card.cols + col]) for col in range(card.cols)]
            for row in range(card.rows)
        ]
        response = TemplateResponse(
            request,
            "admin/credentials/otpcard/print.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"OTP card {card.ext_id}",
                "card": card,
                "rows": rows,
                "column_numbers": range(1, card.cols + 1),
            },
        )
        response["Cache-Control"] = "no-store"
        return response


@admin.register(CardPolicy)
class CardPolicyAdmin(OrganizationScopedAdmin):
    list_display = (
        "name",
        "ext_id",
        "organization",
        "is_default",
        "rows",
        "cols",
        "cell_length",
        "max_cred_failure_count",
        "tmp_locking_threshold",
    )
    list_filter = ("is_default", "coordinate_card_format", "tmp_locking_mode", "organization")
    list_select_related = ("organization",)
    search_fields = ("name", "ext_id", "organization__name")
    search_help_text = "Name, external id or organization."
    autocomplete_fields = ("organization",)
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("organization", "name", "ext_id", "is_default")}),
        (
            "Card",
            {
                "fields": (
                    ("rows", "cols", "cell_length"),
                    "coordinate_card_format",
                    "credential_lifetime_days",
                    "low_on_challenges_threshold",
                )
            },
        ),
        (
            "Lockout",
            {
                "fields": (
                    "max_cred_failure_count",
                    "tmp_locking_threshold",
                    "tmp_locking_duration_seconds",
                    "tmp_locking_mode",
                )
            },
        ),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )


class OtpCardInline(ScopedInlineMixin, TabularInline):
    model = OtpCard
    fields = ("ext_id", "state", "cells_remaining", "failed_login_count", "valid_to", "policy")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class SendCodeForm(forms.Form):
    scope = forms.ChoiceField(choices=Scope.choices, initial=Scope.GENERIC, widget=UnfoldAdminSelectWidget)
    channel = forms.ChoiceField(choices=Channel.choices, widget=UnfoldAdminSelectWidget)

    def __init__(self, *args, person: OtpUser, **kwargs):
        super().__init__(*args, **kwargs)
        self.person = person

    def clean_channel(self) -> str:
        channel = self.cleaned_data["channel"]
        if not getattr(self.person, CHANNEL_IDENTIFIER[channel]):
            raise forms.ValidationError(f"This person has no {CHANNEL_IDENTIFIER[channel]} to send to.")
        return channel


class IssueCardForm(forms.Form):
    policy = forms.ModelChoiceField(
        queryset=CardPolicy.objects.none(),
        required=False,
        widget=UnfoldAdminSelectWidget,
        help_text="Empty: the organization's default policy.",
    )
    ext_id = forms.CharField(
        max_length=100, required=False, widget=UnfoldAdminTextInputWidget, help_text="Generated when empty."
    )


# A code sent on a channel names the person by that channel's identifier.
CHANNEL_IDENTIFIER = {Channel.SMS: "mobile", Channel.EMAIL: "email"}
CHANNEL_IDENTIFIER_TYPE = {Channel.SMS: IdentifierType.MOBILE, Channel.EMAIL: IdentifierType.EMAIL}


class PersonAdmin(OtpUserAdmin):
    """The person's page with what credentials adds to it (otpusers must not import credentials): their
    cards, and sending a code or issuing a card from the page."""

    inlines = (*OtpUserAdmin.inlines, OtpCardInline)
    actions_detail = (*OtpUserAdmin.actions_detail, "send_code", "issue_card")

    # Named permission methods, not dotted names: unfold checks dotted ones against the database at start-up,
    # which a fresh database (before migrate) cannot answer.
    def has_send_code_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("credentials.add_issuedcode")

    def has_issue_card_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("credentials.add_otpcard")

    @unfold_action(description="Send a code", url_path="send-code", icon="sms", permissions=["send_code"])
    def send_code(self, request, object_id):
        person = object_for_action(self, request, object_id)
        form = SendCodeForm(request.POST if request.method == "POST" else None, person=person)
        if not form.is_valid():
            return action_page(
                self, request, person, title=f"Send a code to {person}", form=form, submit="Send the code"
            )
        channel = form.cleaned_data["channel"]
        try:
            result = services.code_issue(
                organization=person.organization,
                identifier_type=CHANNEL_IDENTIFIER_TYPE[channel],
                identifier_value=getattr(person, CHANNEL_IDENTIFIER[channel]),
                scope=form.cleaned_data["scope"],
                destinations=[services.Destination(channel, "")],
                actor=Actor.from_request(request),
                surface=Surface.ADMIN,
            )
        except services.RecipientUnknown:
            return back_to_object(self, request, person, "No code sent: the person is deactivated.", messages.ERROR)
        except (services.IssueRefused, services.DestinationMissing, services.ChannelUnavailable) as refusal:
            return back_to_object(self, request, person, f"No code sent: {refusal}.", messages.ERROR)
        return back_to_object(self, request, person, f"Code {result.code.public_id} sent by {Channel(channel).label}.")

    @unfold_action(description="Issue a card", url_path="issue-card", icon="grid_on", permissions=["issue_card"])
    def issue_card(self, request, object_id):
        person = object_for_action(self, request, object_id)
        form = IssueCardForm(request.POST if request.method == "POST" else None)
        form.fields["policy"].queryset = CardPolicy.objects.filter(organization=person.organization_id)
        if not form.is_valid():
            return action_page(self, request, person, title=f"Issue a card to {person}", form=form, submit="Issue")
        try:
            card = services.card_create(
                person=person,
                policy=form.cleaned_data["policy"],
                ext_id=form.cleaned_data["ext_id"],
                actor=Actor.from_request(request),
            )
        except services.CardLimitReached:
            message = f"No card issued: a person has at most {services.MAX_CARDS_PER_PERSON} cards in use."
            return back_to_object(self, request, person, message, messages.ERROR)
        except ValidationError as error:
            return back_to_object(self, request, person, f"No card issued: {error.messages[0]}", messages.ERROR)
        self.message_user(request, f"Card {card.ext_id} issued.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:credentials_otpcard_change", args=[card.pk]))


admin.site.unregister(OtpUser)
admin.site.register(OtpUser, PersonAdmin)


# django-tasks-db's own admin shows each task's arguments, return value and traceback: a delivery task's
# arguments hold the sealed code, the addresses and the templates. Importing its module above registers it
# before autodiscovery would; it is replaced here by one that shows the queue's state and nothing sent.
admin.site.unregister(tasks_db_admin.DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(ReadOnlyAdmin):
    """The delivery queue, for superusers (a task belongs to no single organization): which tasks wait, run,
    failed and when. Arguments, return values and tracebacks are never shown; a code's attempts are on it."""

    fields = (
        "id",
        "task_path",
        "status",
        "queue_name",
        "priority",
        "enqueued_at",
        "run_after",
        "started_at",
        "finished_at",
        "worker_ids",
        "exception_class_path",
    )
    readonly_fields = fields
    list_display = ("id", "task_name", "status", "enqueued_at", "started_at", "finished_at", "queue_name")
    list_filter = ("status", "queue_name")
    ordering = ("-enqueued_at",)
    show_full_result_count = False

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_superuser
