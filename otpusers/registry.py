"""The one table of API permission names: every name a vendor documents, each mapped to a Django permission.

API keys hold names from this table; staff users reach the same endpoints through the mapped Django
permissions, so the admin and the API share one vocabulary. This module is plain data (no DRF, no models)
so that the ApiKey model and its admin can offer the names without importing the API layer.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ApiPermission:
    name: str
    django_permission: str
    description: str


_PERMISSIONS = (
    ApiPermission("mad.store.otpUsers.list", "otpusers.view_appaccess", "Applivery: list a store's OTP users"),
    ApiPermission("mad.store.otpUsers.get", "otpusers.view_appaccess", "Applivery: read one OTP user"),
    ApiPermission("mad.store.otpUsers.create", "otpusers.add_appaccess", "Applivery: create OTP users"),
    ApiPermission(
        "mad.store.otpUsers.update", "otpusers.change_appaccess", "Applivery: change an OTP user's allowance"
    ),
    ApiPermission("mad.store.otpUsers.remove", "otpusers.delete_appaccess", "Applivery: delete an OTP user"),
    ApiPermission("mad.store.management.list", "otpusers.view_store", "Applivery: list the organization's stores"),
    ApiPermission(
        "mad.store.publishedApplication.list",
        "otpusers.view_publishedapplication",
        "Applivery: list a store's published applications",
    ),
    ApiPermission(
        "mad.store.publishedApplication.get",
        "otpusers.view_publishedapplication",
        "Applivery: read one published application",
    ),
    # Capillary documents no permission names for its OTP endpoints; these are otpsite's.
    ApiPermission("capillary.otp.read", "credentials.view_issuedcode", "Capillary: read back a customer's code"),
    ApiPermission("capillary.otp.write", "credentials.add_issuedcode", "Capillary: generate and validate codes"),
    ApiPermission("manage.otp.verify", "credentials.verify_issuedcode", "myKaarma manage: validate a user's OTP"),
    # The vendor documents no sender; this one is otpsite's.
    ApiPermission("manage.otp.send", "credentials.add_issuedcode", "myKaarma manage: send a user an OTP"),
    ApiPermission("AccessControl.CredentialView", "credentials.view_otpcard", "nevisIDM: read OTP cards"),
    ApiPermission("AccessControl.CredentialCreate", "credentials.add_otpcard", "nevisIDM: create OTP cards"),
    ApiPermission(
        "AccessControl.CredentialModify", "credentials.change_otpcard", "nevisIDM: change, replace OTP cards"
    ),
    ApiPermission("AccessControl.CredentialDelete", "credentials.delete_otpcard", "nevisIDM: delete OTP cards"),
    ApiPermission(
        "AccessControl.CredentialChangeState",
        "credentials.change_state_otpcard",
        "nevisIDM: change a card's state, and log in with it",
    ),
    ApiPermission(
        "AccessControl.PolicyConfigurationView", "credentials.view_cardpolicy", "nevisIDM: read card policies"
    ),
)

API_PERMISSIONS: dict[str, ApiPermission] = {permission.name: permission for permission in _PERMISSIONS}


def permission_choices_by_surface() -> list[tuple[str, list[tuple[str, str]]]]:
    """The names grouped by the surface that checks them, each labelled by what it allows."""
    return [
        (
            surface,
            [
                (p.name, f"{p.description.split(': ', 1)[-1]} ({p.name})")
                for p in _PERMISSIONS
                if p.name.startswith(prefix)
            ],
        )
        for prefix, surface, _ in SURFACES
    ]


def unknown_permission_names(names: list[str]) -> list[str]:
    return [name for name in names if name not in API_PERMISSIONS]


# Which vendor surface a name belongs to, by its prefix, and how that surface's clients authenticate.
SURFACES = (
    ("mad.store.", "Applivery", "bearer"),
    ("capillary.", "Capillary", "basic-md5"),
    ("manage.", "myKaarma manage", "basic"),
    ("AccessControl.", "nevisIDM", "bearer"),
)


def surfaces_of(names: list[str]) -> list[tuple[str, str]]:
    """The (surface, authentication scheme) pairs a key holding `names` may call, in the table's order."""
    return [(surface, scheme) for prefix, surface, scheme in SURFACES if any(n.startswith(prefix) for n in names)]
