"""Staff per organization in the admin: a staff user who is not a superuser sees and changes only the
objects of the organizations that list them as staff.

Every ModelAdmin and inline inherits `OrganizationScopedAdmin` (or `ScopedInlineMixin`) and names the path
from its model to Organization; the querysets of changelists, change forms, actions, exports, history and
autocomplete all start from `get_queryset`, foreign-key choices and related-object filters from the
related model's own admin. Nothing else filters by organization, so there is one place to get it right.
"""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from import_export.formats.base_formats import CSV, XLSX
from unfold.admin import ModelAdmin
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import action

from otpusers.audit import Actor, audit_object_key
from otpusers.models import AuditEvent, Organization

# The most events an object's History page lists; the audit list, filtered to the object, has them all.
HISTORY_LENGTH = 100

_CACHE_ATTRIBUTE = "_otpsite_visible_organization_ids"


def sees_every_organization(user) -> bool:
    return bool(user.is_active and user.is_superuser)


def visible_organization_ids(request) -> list[int]:
    """The organizations a non-superuser staff user may see, read once per request."""
    cached = getattr(request, _CACHE_ATTRIBUTE, None)
    if cached is None:
        user = request.user
        cached = list(Organization.objects.filter(staff=user).values_list("pk", flat=True)) if user.is_active else []
        setattr(request, _CACHE_ATTRIBUTE, cached)
    return cached


def scope_queryset(queryset: QuerySet, request, organization_path: str) -> QuerySet:
    """`queryset` narrowed to the request user's organizations; `organization_path` leads from its model to
    Organization ("" for Organization itself). The organizations are listed by id, so that the filter is an
    `organization_id IN (...)` an index serves, not a join through the staff table on every row."""
    if sees_every_organization(request.user):
        return queryset
    lookup = f"{organization_path}_id__in" if organization_path else "pk__in"
    return queryset.filter(**{lookup: visible_organization_ids(request)})


def _related_admin_queryset(admin_site, model: type[Model], request) -> QuerySet | None:
    related_admin = admin_site._registry.get(model)
    if isinstance(related_admin, OrganizationScopedAdmin):
        return related_admin.get_queryset(request)
    return None


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object filter offering only the objects the user may see (stock Django lists them all)."""

    def field_choices(self, field, request, model_admin):
        queryset = _related_admin_queryset(model_admin.admin_site, field.remote_field.model, request)
        if queryset is None:
            return super().field_choices(field, request, model_admin)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in queryset]


class ScopedFormfieldsMixin:
    """Foreign-key choices (selects, autocompletes and their validation) limited to what the user may see,
    through the related model's admin."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            queryset = _related_admin_queryset(self.admin_site, db_field.remote_field.model, request)
            if queryset is not None:
                kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrganizationScopedAdmin(ScopedFormfieldsMixin, ModelAdmin):
    """The base of every otpsite ModelAdmin. `organization_path` leads from the model to Organization."""

    organization_path: str = "organization"

    def get_queryset(self, request):
        return scope_queryset(super().get_queryset(request), request, self.organization_path)

    def organization_of(self, obj) -> Organization | None:
        """The organization `obj` belongs to, following `organization_path`."""
        if not self.organization_path:
            return obj
        for name in self.organization_path.split("__"):
            obj = getattr(obj, name, None)
            if obj is None:
                return None
        return obj

    def get_list_filter(self, request):
        scoped = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
                entry = (entry, ScopedRelatedFieldListFilter)
            scoped.append(entry)
        return scoped

    def audit_trail_url(self, obj) -> str:
        object_type, object_id = audit_object_key(obj)
        changelist = reverse(f"{self.admin_site.name}:otpusers_auditevent_changelist")
        return f"{changelist}?{urlencode({'object_type': object_type, 'object_id': object_id})}"

    def history_view(self, request, object_id, extra_context=None):
        """History is the audit trail: every audit event about the object, from the admin, the API, the
        store page or the system, with who, what, reason, IP and request id."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        object_type, audit_id = audit_object_key(obj)
        events = AuditEvent.objects.filter(object_type=object_type, object_id=audit_id).order_by("-created_at", "-id")
        request.current_app = self.admin_site.name
        return TemplateResponse(
            request,
            "admin/audit_history.html",
            {
                **self.admin_site.each_context(request),
                "title": f"History: {obj}",
                "subtitle": None,
                "opts": self.opts,
                "object": obj,
                "original": obj,
                "events": events[:HISTORY_LENGTH],
                "history_length": HISTORY_LENGTH,
                "audit_trail_url": self.audit_trail_url(obj),
                **(extra_context or {}),
            },
        )

    @action(description="Audit trail", url_path="audit-trail", icon="history")
    def audit_trail(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        return HttpResponseRedirect(self.audit_trail_url(obj))

    def get_list_display(self, request):
        """An organization column says nothing to someone who sees only one."""
        columns = super().get_list_display(request)
        if sees_every_organization(request.user) or len(visible_organization_ids(request)) > 1:
            return columns
        return [column for column in columns if column != "organization"]


class ScopedImportExportMixin:
    """Put before django-import-export's admin mixin: its resources import as the staff user (the audit
    actor) into, and export from, the organizations that user may see; the export is the changelist's
    scoped, filtered queryset. Unfold's forms keep the theme."""

    import_form_class = ImportForm
    export_form_class = ExportForm
    formats = (CSV, XLSX)

    def get_resource_kwargs(self, request, *args, **kwargs):
        organizations = Organization.objects.all()
        if not sees_every_organization(request.user):
            organizations = organizations.filter(pk__in=visible_organization_ids(request))
        return {"actor": Actor.from_request(request), "organizations": organizations}

    def get_import_data_kwargs(self, **kwargs):
        # All or nothing at the confirm step too: a row that has become invalid since the preview (another
        # writer has taken its identifier meanwhile) rolls the whole import back.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result, request):
        if not (result.has_errors() or result.has_validation_errors()):
            return super().process_result(result, request)
        rows = ", ".join(str(row.number) for row in result.invalid_rows[:20])
        problems = [f"rows {rows} are no longer valid" if rows else ""]
        problems += [str(error.error) for error in result.base_errors[:3]]
        problems += [str(error.error) for _, errors in result.row_errors()[:3] for error in errors[:1]]
        messages.error(
            request,
            "Nothing was imported: " + "; ".join(problem for problem in problems if problem) + ". "
            "Something changed since the preview: import the file again to see why.",
        )
        return HttpResponseRedirect(reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_import"))


class ScopedInlineMixin(ScopedFormfieldsMixin):
    """For inlines: their rows already belong to the parent object, which is scoped; their foreign-key
    choices are scoped here."""
