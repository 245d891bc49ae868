"""The store page: external people sign in with an emailed code and download the current build.

One page per published application, in three steps kept in the session under the application's id (so a
sign-in is bound to that one application): the email, the code, the download. Every answer is the same
whether or not the email has access; the session keeps the resend cooldown and a count of attempts so
that the page can say when to wait or ask again without asking the server anything about the email.
"""

import os

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from credentials import services
from otpsite import limits
from otpsite.middleware import client_ip
from otpsite.store.forms import CodeForm, EmailForm
from otpusers import services as otpuser_services
from otpusers.audit import Actor
from otpusers.choices import ActorType, Visibility
from otpusers.models import AppAccess, PublishedApplication, one_or_none
from otpusers.prepared import PreparedLookup


def _visible_application(shape, *, store_slug: str, app_slug: str):
    return PublishedApplication.objects.select_related("store__organization").filter(
        store__slug=store_slug, slug=app_slug, visibility__in=[Visibility.ACTIVE, Visibility.UNLISTED]
    )


# Every step of the page starts here: compiled once.
VISIBLE_APPLICATION = PreparedLookup(PublishedApplication, _visible_application, store_slug=str, app_slug=str)


def _application(store_slug: str, app_slug: str) -> PublishedApplication:
    application = VISIBLE_APPLICATION.one_or_none(store_slug=store_slug, app_slug=app_slug)
    if application is None:
        raise Http404("No such application.")
    return application


def _now() -> float:
    return timezone.now().timestamp()


def _state_key(application: PublishedApplication) -> str:
    return f"store:{application.public_id}"


def _state(request, application) -> dict:
    return request.session.get(_state_key(application), {})


def _save(request, application, state: dict) -> None:
    request.session[_state_key(application)] = state


def _page(application) -> str:
    return reverse("store:page", args=[application.store.slug, application.slug])


def _actor(request, email: str = "") -> Actor:
    return Actor(
        type=ActorType.PERSON,
        label=f"store page: {email}"[:200] if email else "store page",
        client_ip=client_ip(request),
        request_id=getattr(request, "request_id", ""),
    )


def _signed_in_access(request, application) -> AppAccess | None:
    state = _state(request, application)
    if not state.get("access_id") or state.get("signed_in_until", 0) < _now():
        return None
    access = one_or_none(
        AppAccess.objects.select_related("otp_user").filter(pk=state["access_id"], published_application=application)
    )
    if access is not None:
        access.published_application = application  # read already, with its store and organization
    return access


def _cooldown_left(application, state: dict) -> int:
    cooldown = application.store.organization.resend_cooldown_seconds
    return max(int(state.get("requested_at", 0) + cooldown - _now()), 0)


def _too_many(request, application, exceeded: limits.LimitExceeded, form=None) -> HttpResponse:
    """429 with Retry-After, on the page the visitor was on; the same for every email."""
    minutes = max(round(exceeded.retry_after / 60), 1)
    messages.error(request, f"Too many requests. Please try again in about {minutes} minutes.")
    response = render(
        request,
        "store/email.html",
        {"application": application, "store": application.store, "form": form or EmailForm()},
        status=429,
    )
    response["Retry-After"] = str(exceeded.retry_after)
    return response


@require_GET
def page(request, store_slug: str, app_slug: str):
    application = _application(store_slug, app_slug)
    state = _state(request, application)
    context = {"application": application, "store": application.store}
    access = _signed_in_access(request, application)
    if access is not None:
        return render(request, "store/download.html", {**context, "access": access})
    if state.get("email"):
        organization = application.store.organization
        context.update(
            form=CodeForm(),
            email=state["email"],
            cooldown_left=_cooldown_left(application, state),
            attempts_left=max(organization.code_max_attempts - state.get("attempts", 0), 0),
            valid_minutes=organization.code_validity_seconds // 60,
        )
        return render(request, "store/code.html", context)
    return render(request, "store/email.html", {**context, "form": EmailForm()})


@require_POST
def request_code(request, store_slug: str, app_slug: str):
    application = _application(store_slug, app_slug)
    state = _state(request, application)
    resend = "resend" in request.POST
    form = EmailForm({"email": state.get("email", "")} if resend else request.POST)
    if not form.is_valid():
        return render(
            request, "store/email.html", {"application": application, "store": application.store, "form": form}
        )
    email = form.cleaned_data["email"]
    if state.get("email") == email and _cooldown_left(application, state):
        messages.info(request, f"Please wait {_cooldown_left(application, state)} seconds before asking again.")
        return redirect(_page(application))
    try:
        limits.store_code_request(client_ip=client_ip(request), email=email)
    except limits.LimitExceeded as exceeded:
        return _too_many(request, application, exceeded, form)
    services.store_code_request(published_application=application, email=email, actor=_actor(request, email))
    _save(request, application, {"email": email, "requested_at": _now(), "attempts": 0})
    messages.success(request, f"If {email} may download this app, a code is on its way to it.")
    return redirect(_page(application))


@require_POST
def verify_code(request, store_slug: str, app_slug: str):
    application = _application(store_slug, app_slug)
    state = _state(request, application)
    if not state.get("email"):
        return redirect(_page(application))
    form = CodeForm(request.POST)
    if state.get("attempts", 0) >= application.store.organization.code_max_attempts:
        messages.error(request, "Too many attempts with this code. Ask for a new code.")
        return redirect(_page(application))
    try:
        limits.refuse_blocked_address(client_ip(request))
    except limits.LimitExceeded as exceeded:
        return _too_many(request, application, exceeded)
    access = None
    if form.is_valid():
        access = services.store_code_verify(
            published_application=application,
            email=state["email"],
            code=form.cleaned_data["code"],
            actor=_actor(request, state["email"]),
        )
    if access is None:
        limits.record_failed_authentication(client_ip(request))
        state["attempts"] = state.get("attempts", 0) + 1
        _save(request, application, state)
        messages.error(request, "That code is not right, or it has expired. Check the email, or ask for a new code.")
        return redirect(_page(application))
    request.session.cycle_key()  # a fresh session id for the signed-in session
    _save(
        request,
        application,
        {"access_id": access.pk, "signed_in_until": _now() + settings.OTPSITE_STORE_SESSION_SECONDS},
    )
    return redirect(_page(application))


@require_POST
def download(request, store_slug: str, app_slug: str):
    application = _application(store_slug, app_slug)
    access = _signed_in_access(request, application)
    if access is None:
        messages.error(request, "Your sign-in has ended. Enter your email to get a new code.")
        request.session.pop(_state_key(application), None)
        return redirect(_page(application))
    if not application.build_file:
        messages.error(request, "There is no build to download yet. Please try again later.")
        return redirect(_page(application))
    if not otpuser_services.app_access_consume_download(access=access, actor=_actor(request, access.otp_user.email)):
        messages.error(request, "You have used all the downloads you were given for this app.")
        return redirect(_page(application))
    build = application.build_file
    try:
        handle = build.open("rb")
    except FileNotFoundError:
        raise Http404("The build file is missing.") from None
    return FileResponse(handle, as_attachment=True, filename=os.path.basename(build.name))


@require_POST
def sign_out(request, store_slug: str, app_slug: str):
    application = _application(store_slug, app_slug)
    request.session.pop(_state_key(application), None)
    return redirect(_page(application))
