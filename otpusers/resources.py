"""Import and export (django-import-export) of people, app accesses and the audit trail.

Imports write through the services (validation, uniqueness, audit), as the staff user, into the
organizations that user may see; the admin previews a dry run, shows each row's errors, and imports all
rows or none. Exports list the fields named here and nothing else, so no secret can slip into a file."""

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets
from import_export.resources import Diff

from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AppAccess, AuditEvent, Organization, OtpUser, PublishedApplication


class ScopedForeignKeyWidget(widgets.ForeignKeyWidget):
    """Finds the related object only among those the importing user may see: another organization's
    reads as missing. Each value is looked up once per import, not once per row."""

    def __init__(self, model, field, visible):
        super().__init__(model, field=field)
        self.visible = visible
        self.found: dict[str, object] = {}

    def get_queryset(self, value, row, *args, **kwargs):
        return self.visible()

    def get_instance_by_lookup_fields(self, value, row, **kwargs):
        if value not in self.found:
            try:
                self.found[value] = super().get_instance_by_lookup_fields(value, row, **kwargs)
            except self.model.DoesNotExist as missing:
                self.found[value] = missing
        if isinstance(self.found[value], Exception):
            raise self.found[value]
        return self.found[value]


class ScopedResource(resources.ModelResource):
    """A resource that knows who imports (the audit actor) and what they may see."""

    def __init__(self, *, actor: Actor | None = None, organizations=None, **kwargs):
        super().__init__(**kwargs)
        self.actor = actor or Actor.system("import")
        self.organizations = organizations if organizations is not None else Organization.objects.all()


# Rows a preview lists (with their changes); past them it gives their count.
PREVIEW_ROWS = 200


def _cell(row, column: str) -> str:
    return str(row.get(column) or "").strip()


class PersonResource(ScopedResource):
    """People, found by email within their organization (a row whose email names nobody creates a person).

    Made for files of a hundred thousand rows: the people a file names are read before its first row (one
    query per 5 000 rows, services.otp_user_identifiers_in_use), each row is validated against them and
    against the file's earlier rows (services.otp_user_check: every field error and identifier conflict
    named on its row, no query), and the rows are written a thousand per statement with their audit events
    (services.otp_users_create_checked / otp_users_update_checked). The unique constraints still hold: a
    writer outside the import that takes an identifier meanwhile fails the import as a whole."""

    organization = fields.Field(attribute="organization", column_name="organization")
    created_at = fields.Field(attribute="created_at", column_name="created_at", readonly=True)

    class Meta:
        model = OtpUser
        fields = ("id", "organization", *services.OTP_USER_EDITABLE_FIELDS, "is_valid", "created_at")
        export_order = fields
        import_id_fields = ()
        skip_unchanged = True
        report_skipped = True
        # Validated by services.otp_user_check (validate_instance below), not by a full_clean per row.
        clean_model_instances = False
        use_bulk = True
        batch_size = services.PEOPLE_PER_STATEMENT
        # The preview's diff is made for its first rows only (after_init_instance, after_import_row), and
        # unchanged rows are found by comparing with the stored person (skip_row), not with a deep copy.
        skip_diff = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fields["organization"].widget = ScopedForeignKeyWidget(Organization, "slug", lambda: self.organizations)
        self.fields["id"].readonly = True
        self.fields["is_valid"].readonly = True
        self.in_use = services.IdentifiersInUse()
        self.stored: dict[int, dict[str, str]] = {}  # each updated person's editable fields as stored
        self.previewed = 0
        self.diff: tuple[Diff, OtpUser] | None = None

    def import_data(self, dataset, dry_run=False, **kwargs):
        """A dry run's result lists its first PREVIEW_ROWS rows (and every invalid row): a preview of a
        hundred thousand rows would only be a page too long to render or read. Its totals count them all."""
        result = super().import_data(dataset, dry_run=dry_run, **kwargs)
        result.rows_not_shown = 0
        if dry_run and len(result.rows) > PREVIEW_ROWS and not result.has_errors():
            result.rows_not_shown = len(result.rows) - PREVIEW_ROWS
            result.rows = result.rows[:PREVIEW_ROWS]
        return result

    def before_import(self, dataset, **kwargs):
        """Reads the people the file names, by any identifier, in the organizations it names."""
        headers = set(dataset.headers or ())
        slugs = {str(slug or "").strip() for slug in dataset["organization"]} if "organization" in headers else set()
        organization_ids = set(self.organizations.filter(slug__in=slugs).values_list("pk", flat=True))
        values = {
            name: {str(value or "").strip() for value in dataset[name]}
            for name in services.OTP_USER_IDENTIFIERS
            if name in headers
        }
        if organization_ids and values:
            self.in_use = services.otp_user_identifiers_in_use(organization_ids=organization_ids, values=values)

    def get_instance(self, instance_loader, row):
        """The person the row names: by email within the organization, when the row has one."""
        email, slug = _cell(row, "email"), _cell(row, "organization")
        if not email or not slug:
            return None
        try:
            organization = self.fields["organization"].widget.clean(slug, row)
        except Organization.DoesNotExist:
            return None
        person = self.in_use.by_email.get((organization.pk, email.lower()))
        if person is not None:
            # As stored, before this row (or an earlier row naming the same person) changes it.
            stored = {name: getattr(person, name) for name in services.OTP_USER_EDITABLE_FIELDS}
            self.stored.setdefault(person.pk, stored)
        return person

    def after_init_instance(self, instance, new, row, **kwargs):
        self.diff = (Diff(self, instance, new), instance) if self.previewed < PREVIEW_ROWS else None

    def after_import_row(self, row, row_result, **kwargs):
        if self.diff is not None:
            diff, instance = self.diff
            diff.compare_with(self, instance)
            row_result.diff = diff.as_html()
            self.previewed += 1

    def skip_row(self, instance, original, row, import_validation_errors=None):
        """An existing person whose row changes none of their fields."""
        if import_validation_errors or instance.pk is None:
            return False
        return all(getattr(instance, name) == value for name, value in self.stored[instance.pk].items())

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        for name in services.OTP_USER_EDITABLE_FIELDS:
            if getattr(instance, name) is None:
                setattr(instance, name, "")
        try:
            services.otp_user_check(person=instance, in_use=self.in_use)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if self.create_instances and (using_transactions or not dry_run):
            try:
                services.otp_users_create_checked(people=self.create_instances, actor=self.actor)
            except Exception as error:
                self.handle_import_error(result, error, raise_errors)
            finally:
                self.create_instances.clear()

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        if self.update_instances and (using_transactions or not dry_run):
            changes = [
                (person, [name for name, value in self.stored[person.pk].items() if getattr(person, name) != value])
                for person in self.update_instances
            ]
            try:
                services.otp_users_update_checked(changes=changes, actor=self.actor)
            except Exception as error:
                self.handle_import_error(result, error, raise_errors)
            finally:
                self.update_instances.clear()


class AppAccessResource(ScopedResource):
    email = fields.Field(attribute="otp_user__email", column_name="email")
    published_application = fields.Field(attribute="published_application", column_name="published_application")
    application_name = fields.Field(attribute="published_application__name", column_name="application", readonly=True)

    class Meta:
        model = AppAccess
        fields = (
            "public_id",
            "email",
            "published_application",
            "application_name",
            "allowed_downloads_num",
            "downloads_used",
            "last_login_at",
            "last_download_at",
            "created_at",
        )
        export_order = fields
        import_id_fields = ()
        clean_model_instances = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fields["published_application"].widget = ScopedForeignKeyWidget(
            PublishedApplication,
            "public_id",
            lambda: PublishedApplication.objects.filter(store__organization__in=self.organizations),
        )
        for name in ("public_id", "downloads_used", "last_login_at", "last_download_at", "created_at"):
            self.fields[name].readonly = True

    def get_instance(self, instance_loader, row):
        """The access the row names: the person by email and the published application by public id."""
        email = (row.get("email") or "").strip()
        application = (row.get("published_application") or "").strip()
        if not email or not application:
            return None
        return (
            AppAccess.objects.filter(
                published_application__public_id=application,
                published_application__store__organization__in=self.organizations,
                otp_user__in=OtpUser.objects.with_identifier("email", email),
            )
            .select_related("otp_user", "published_application__store__organization")
            .first()
        )

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        if field.attribute == "otp_user__email":
            instance.imported_email = (row.get("email") or "").strip()
            return None
        return super().import_field(field, instance, row, is_m2m, **kwargs)

    def do_instance_save(self, instance, is_create):
        if not is_create:
            services.app_access_update(
                access=instance, allowed_downloads_num=instance.allowed_downloads_num, actor=self.actor
            )
            return
        application = instance.published_application
        person = services.otp_user_get_or_create_by_email(
            organization=application.store.organization, email=instance.imported_email, actor=self.actor
        )
        created = services.app_access_create(
            published_application=application,
            otp_user=person,
            allowed_downloads_num=instance.allowed_downloads_num,
            actor=self.actor,
        )
        instance.pk, instance.public_id, instance.otp_user = created.pk, created.public_id, person


class AuditEventResource(ScopedResource):
    organization = fields.Field(attribute="organization__slug", column_name="organization")

    class Meta:
        model = AuditEvent
        fields = (
            "created_at",
            "organization",
            "actor_type",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "outcome",
            "reason",
            "detail",
            "client_ip",
            "request_id",
        )
        export_order = fields
