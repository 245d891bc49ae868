"""Which organizations' objects a caller may see. Every surface's querysets go through here, so another
tenant's object is simply not found: the same answer as a missing one."""

from django.db.models import QuerySet

from otpusers.models import ApiKey


def scope_to_caller(queryset: QuerySet, request, organization_path: str) -> QuerySet:
    """`queryset` narrowed to the caller's organizations, by a join rather than a subquery.

    `organization_path` leads from the queryset's model to its Organization, e.g. "organization" or
    "published_application__store__organization", or is "" for a queryset of organizations. An API key
    sees its own organization; a superuser every one; another staff user those that list them as staff;
    anyone else none."""
    if isinstance(request.auth, ApiKey):
        key_field = f"{organization_path}_id" if organization_path else "pk"
        return queryset.filter(**{key_field: request.auth.organization_id})
    user = request.user
    if user.is_authenticated and user.is_superuser:
        return queryset
    if user.is_authenticated and user.is_staff:
        return queryset.filter(**{f"{organization_path}__staff" if organization_path else "staff": user})
    return queryset.none()
