"""Which organizations' objects a caller may see. Every surface's querysets go through here, so another
tenant's object is simply not found: the same answer as a missing one."""

from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, PermissionDenied

from otpusers.models import ApiKey, Organization

# The query parameter a staff session names its organization with on surfaces whose paths name none
# (Capillary's own name for it).
ORGANIZATION_PARAMETER = "orgId"


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


def caller_organization(request) -> Organization:
    """The one organization a call acts for on a surface whose path names none (Capillary, manage).

    An API key acts for its own. A staff session (the browsable API) acts for the organization named by
    `?orgId=`, or, when it names none, for the only organization it may see; another organization's id
    answers like a missing one."""
    if isinstance(request.auth, ApiKey):
        return request.auth.organization
    visible = scope_to_caller(Organization.objects.all(), request, "")
    named = request.query_params.get(ORGANIZATION_PARAMETER, "")
    if named:
        organization = visible.filter(pk=int(named)).first() if named.isdigit() else None
        if organization is None:
            raise NotFound(f"No organization {named}.")
        return organization
    candidates = list(visible.order_by("pk")[:2])
    if len(candidates) != 1:
        raise PermissionDenied(f"Name the organization to act for with ?{ORGANIZATION_PARAMETER}=<id>.")
    return candidates[0]
