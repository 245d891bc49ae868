"""Import and export (django-import-export) of people, app accesses and the audit trail.

Imports write through the services (validation, uniqueness, audit), as the staff user, into the
organizations that user may see; the admin previews a dry run, shows each row's errors, and imports all
rows or none. Exports list the fields named here and nothing else, so no secret can slip into a file."""

from import_export import fields, resources, widgets

from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AppAccess, AuditEvent, Organization, OtpUser, PublishedApplication


class ScopedForeignKeyWidget(widgets.ForeignKeyWidget):
    """Finds the related object only among those the importing user may see: another organization's
    reads as missing."""

    def __init__(self, model, field, visible):
        super().__init__(model, field=field)
        self.visible = visible

    def get_queryset(self, value, row, *args, **kwargs):
        return self.visible()


class ScopedResource(resources.ModelResource):
    """A resource that knows who imports (the audit actor) and what they may see."""

    def __init__(self, *, actor: Actor | None = None, organizations=None, **kwargs):
        super().__init__(**kwargs)
        self.actor = actor or Actor.system("import")
        self.organizations = organizations if organizations is not None else Organization.objects.all()


class PersonResource(ScopedResource):
    organization = fields.Field(attribute="organization", column_name="organization")
    created_at = fields.Field(attribute="created_at", column_name="created_at", readonly=True)

    class Meta:
        model = OtpUser
        fields = ("id", "organization", *services.OTP_USER_EDITABLE_FIELDS, "is_valid", "created_at")
        export_order = fields
        import_id_fields = ()
        skip_unchanged = True
        report_skipped = True
        # The services validate (and audit); a second full_clean per row would only double the queries.
        clean_model_instances = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.fields["organization"].widget = ScopedForeignKeyWidget(Organization, "slug", lambda: self.organizations)
        self.fields["id"].readonly = True
        self.fields["is_valid"].readonly = True

    def get_instance(self, instance_loader, row):
        """The person the row names: by email within the organization, when the row has one."""
        email = (row.get("email") or "").strip()
        slug = (row.get("organization") or "").strip()
        if not email or not slug:
            return None
        return (
            OtpUser.objects.filter(organization__in=self.organizations, organization__slug=slug)
            .with_identifier("email", email)
            .first()
        )

    def do_instance_save(self, instance, is_create):
        values = {name: getattr(instance, name) or "" for name in services.OTP_USER_EDITABLE_FIELDS}
        if is_create:
            created = services.otp_user_create(organization=instance.organization, actor=self.actor, **values)
            instance.pk, instance.created_at = created.pk, created.created_at
        else:
            services.otp_user_update(person=OtpUser.objects.get(pk=instance.pk), actor=self.actor, **values)


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
