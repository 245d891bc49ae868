"""The admin at scale: every changelist, one typical choice of each of its filters, and searches, timed over
HTTP against the same gunicorn as a signed-in superuser. Changelists and filters come from admin.site's
registry, so a new admin is measured without a change here."""

import http.client
import os
import statistics
import sys
import time
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.filters import DateFieldListFilter
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory
from django.urls import reverse

from bench.seed import BulkIds, Scale
from credentials.models import IssuedCode
from otpusers.models import AppAccess

REPEATS = 3
SLOW_MS = 3000  # one request this slow is enough to know


def _typical_choice(spec, changelist) -> str | None:
    """A choice a person would click: "Past 7 days" for dates, else the first one after "All"."""
    choices = list(spec.choices(changelist))
    if isinstance(spec, DateFieldListFilter):
        for choice in choices:
            if str(choice["display"]).lower().startswith("past 7"):
                return choice["query_string"]
    for choice in choices[1:]:
        if not choice.get("selected"):
            return choice["query_string"]
    return None


def _pages(superuser, terms: list[str]) -> list[tuple[str, str, str]]:
    """(label, path, query) of the dashboard, and of each changelist, filter choice and search."""
    from otpsite.dashboard import rollup_days

    # The dashboard's finished days, computed once after the bulk load, as `manage.py dashboard_rollup` does.
    rollup_days()
    factory = RequestFactory()
    pages = [("Dashboard", reverse("admin:index"), "")]
    for model, model_admin in sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label):
        path = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        label = model._meta.label
        pages.append((label, path, ""))
        request = factory.get(path)
        request.user = superuser
        try:
            changelist = model_admin.get_changelist_instance(request)
        except Exception as error:  # measured over HTTP all the same; the page will show the error
            sys.stderr.write(f"bench: {label} changelist: {error}\n")
            continue
        for spec in changelist.filter_specs:
            query = _typical_choice(spec, changelist)
            if query:
                pages.append((f"{label} filter {spec.title}", path, query.lstrip("?")))
        if model_admin.get_search_fields(request):
            for term in terms:
                pages.append((f"{label} search", path, urlencode({"q": term})))
    return pages


def _time(port: int, path: str, cookie: str) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    connection.close()
    return response.status, elapsed


def _pass_the_second_factor(client: Client, superuser) -> None:
    """As after a TOTP sign-in (OTPSITE_STAFF_TWO_FACTOR is on in production): a confirmed device, and the
    session verified with it, so that each page pays what a signed-in staff user's does."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=superuser, name="bench", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def measure(*, port: int, superuser_id: int, ids: BulkIds, scale: Scale) -> list[dict]:
    superuser = get_user_model().objects.get(pk=superuser_id)
    client = Client()
    client.force_login(superuser)
    _pass_the_second_factor(client, superuser)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    middle = scale.people // 2
    code_public_id = (
        IssuedCode.objects.filter(pk=ids.codes + scale.people * 3).values_list("public_id", flat=True).get()
    )
    access_public_id = AppAccess.objects.filter(pk=ids.accesses + 7).values_list("public_id", flat=True).get()
    terms = [f"p{middle}@bench.example", f"p{middle // 10}", code_public_id, access_public_id]
    results = []
    only = os.environ.get("ADMIN_PAGES", "")  # e.g. ADMIN_PAGES=IssuedCode: the pages whose label has it
    for label, path, query in _pages(superuser, terms):
        if only and only not in label:
            continue
        url = f"{path}?{query}" if query else path
        timings, status = [], 0
        for _ in range(REPEATS):
            status, elapsed = _time(port, url, cookie)
            timings.append(elapsed)
            if elapsed > SLOW_MS:
                break
        row = {
            "page": label,
            "query": query,
            "status": status,
            "median_ms": round(statistics.median(timings), 1),
            "max_ms": round(max(timings), 1),
            "requests": len(timings),
        }
        results.append(row)
        flag = "" if row["max_ms"] <= 300 and status == 200 else "  <-- slow" if status == 200 else f"  <-- {status}"
        sys.stderr.write(
            f"bench: admin {label} {query[:60]} {row['median_ms']:.0f} ms (max {row['max_ms']:.0f}){flag}\n"
        )
    return results
