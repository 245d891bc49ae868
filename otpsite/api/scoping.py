"""Which organizations a caller may see. Every surface's querysets start here, so another tenant's
object is simply not found: the same answer as a missing one."""

from django.db.models import QuerySet

from otpusers.models import ApiKey, Organization


def organizations_for(request) -> QuerySet[Organization]:
    if isinstance(request.auth, ApiKey):
        return Organization.objects.filter(pk=request.auth.organization_id)
    user = request.user
    if user.is_authenticated and user.is_superuser:
        return Organization.objects.all()
    if user.is_authenticated and user.is_staff:
        return Organization.objects.filter(staff=user)
    return Organization.objects.none()
