from rest_framework.permissions import BasePermission

from otpsite.api.registry import API_PERMISSIONS
from otpusers.models import ApiKey


def required_permission_name(view) -> str | None:
    return getattr(view, "required_api_permissions", {}).get(getattr(view, "action", None))


class HasApiPermission(BasePermission):
    """Allows an action only when the caller holds the documented name the view declares for it.

    Views declare `required_api_permissions = {action: name}`. An action without a name is denied. API
    keys are checked by their names; staff users by the Django permission the registry maps the name to.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        action_map = getattr(view, "action_map", None)
        if action_map is not None and request.method.lower() not in action_map:
            # A method this viewset does not route: let the view answer 405 rather than a misleading 403.
            return True
        name = required_permission_name(view)
        if name is None:
            return False
        self.message = f"This action requires the permission {name}."
        if isinstance(request.auth, ApiKey):
            return request.auth.grants(name)
        user = request.user
        return bool(
            user and user.is_authenticated and user.is_staff and user.has_perm(API_PERMISSIONS[name].django_permission)
        )
