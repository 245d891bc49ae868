"""The staff console's admin site: django-unfold's theme, otpsite's name, navigation grouped by what staff
do, and the dashboard as its index (otpsite/dashboard.py).

Staff sign-in checks live in `has_permission` and the login form (UNFOLD["LOGIN"]["form"]): a second
factor (django-otp) plugs in there by overriding `has_permission` to also require
`request.user.is_verified()` and by naming an OTP login form, without touching anything else here.
"""

from django.contrib.admin.apps import AdminConfig
from django.urls import NoReverseMatch, reverse
from django.utils.text import capfirst
from unfold.sites import UnfoldAdminSite


class OtpsiteAdminSite(UnfoldAdminSite):
    site_header = "otpsite"
    site_title = "otpsite"
    index_title = "Dashboard"
    # The public site has no page at "/": the store pages live under /store/<slug>/.
    site_url = None


class OtpsiteAdminConfig(AdminConfig):
    default_site = "otpsite.admin_site.OtpsiteAdminSite"


# (group title, [(app_label.model_name, Material Symbols icon), ...]) in the order staff use them. A model
# registered elsewhere and not named here is listed under "More", so nothing registered goes missing.
NAVIGATION = (
    (
        "People and access",
        (
            ("otpusers.otpuser", "person"),
            ("otpusers.appaccess", "download"),
            ("otpusers.organization", "corporate_fare"),
            ("otpusers.store", "storefront"),
            ("otpusers.publishedapplication", "apps"),
        ),
    ),
    ("Codes", (("credentials.issuedcode", "pin"), ("credentials.deliveryattempt", "outgoing_mail"))),
    ("Cards", (("credentials.otpcard", "grid_on"), ("credentials.cardpolicy", "policy"))),
    ("Integrations — API keys", (("otpusers.apikey", "key"),)),
    ("Audit", (("otpusers.auditevent", "history"),)),
    ("Staff accounts", (("auth.user", "badge"), ("auth.group", "group"))),
)


def _changelist_item(site, request, model, model_admin, icon: str) -> dict | None:
    if not model_admin.has_view_or_change_permission(request):
        return None
    opts = model._meta
    try:
        link = reverse(f"{site.name}:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    return {"title": capfirst(opts.verbose_name_plural), "icon": icon, "link": link}


def sidebar_navigation(request) -> list[dict]:
    """UNFOLD["SIDEBAR"]["navigation"]: the groups, holding only what the user may see."""
    from django.contrib import admin

    site = admin.site
    registered = {model._meta.label_lower: (model, model_admin) for model, model_admin in site._registry.items()}
    groups = [
        {
            "title": "Overview",
            "items": [{"title": "Dashboard", "icon": "dashboard", "link": reverse(f"{site.name}:index")}],
        }
    ]
    for title, entries in NAVIGATION:
        items = []
        for label, icon in entries:
            if label in registered:
                item = _changelist_item(site, request, *registered.pop(label), icon)
                if item:
                    items.append(item)
        if items:
            groups.append({"title": title, "separator": True, "items": items})
    others = [_changelist_item(site, request, model, model_admin, "list") for model, model_admin in registered.values()]
    if any(others):
        groups.append({"title": "More", "separator": True, "items": [item for item in others if item]})
    return groups
