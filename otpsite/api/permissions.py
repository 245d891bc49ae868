from rest_framework.permissions import BasePermission

from otpsite.api.authentication import SelfAdminToken
from otpsite.middleware import bind_caller
from otpusers.models import ApiKey
from otpusers.registry import API_PERMISSIONS


def required_permission_names(view) -> tuple[str, ...] | None:
    names = getattr(view, "required_api_permissions", {}).get(getattr(view, "action", None))
    if names is None:
        return None
    return (names,) if isinstance(names, str) else tuple(names)


def caller_holds(request, name: str) -> bool:
    """Whether the API key, or the staff user through the mapped Django permission, holds `name`."""
    if isinstance(request.auth, ApiKey):
        return request.auth.grants(name)
    user = request.user
    return bool(
        user and user.is_authenticated and user.is_staff and user.has_perm(API_PERMISSIONS[name].django_permission)
    )


class HasApiPermission(BasePermission):
    """Allows an action only when the caller holds every documented name the view declares for it.

    Views declare `required_api_permissions = {action: name or (names, ...)}`. An action without a name is
    denied. API keys are checked by their names; staff users by the Django permissions the registry maps
    the names to. A self-admin token (nevisIDM's X-Token) passes only the actions in the view's
    `self_admin_actions`; the view then checks that the token is the path's user.
    """

    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        bind_caller(request)  # the first point where every API view knows its caller: for the log context
        action_map = getattr(view, "action_map", None)
        if action_map is not None and request.method.lower() not in action_map:
            # A method this viewset does not route: let the view answer 405 rather than a misleading 403.
            return True
        names = required_permission_names(view)
        if names is None:
            return False
        if isinstance(request.auth, SelfAdminToken):
            return view.action in getattr(view, "self_admin_actions", ())
        missing = [name for name in names if not caller_holds(request, name)]
        if missing:
            self.message = f"This action requires the permission {' and '.join(missing)}."
        return not missing
