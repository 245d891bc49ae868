from django.conf import settings
from rest_framework.permissions import BasePermission


class DocsAccess(BasePermission):
    """The schema and its docs: anyone's when OTPSITE_API_DOCS_PUBLIC is on, staff's otherwise."""

    def has_permission(self, request, view) -> bool:
        return settings.OTPSITE_API_DOCS_PUBLIC or bool(request.user and request.user.is_staff)
