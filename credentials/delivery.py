"""Sending issued codes: email through Django's email framework, every other channel through a pluggable
gateway backend.

Each gateway channel has its own backend setting, naming the class: OTPSITE_SMS_BACKEND,
OTPSITE_VOICE_BACKEND, OTPSITE_WHATSAPP_BACKEND and OTPSITE_ZALO_BACKEND. The classes are
ConsoleSmsBackend (development: prints), WebhookSmsBackend (POSTs JSON naming the channel, and for voice
that the code is to be spoken, to a gateway of yours) and MemorySmsBackend (tests: keeps an outbox). An
empty setting means the channel has no gateway: a request for it is refused at once. A backend raises
DeliveryError when the message did not go out; the caller records that on the code.
"""

import json
import logging
import re
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.html import escape
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# Capillary's template placeholder; filled by plain substitution, never by a template engine, because the
# template text comes from API callers.
PLACEHOLDER = re.compile(r"\{\{\s*validation_code\s*\}\}")


class DeliveryError(Exception):
    """The message could not be handed to the gateway or mail server."""


@dataclass(frozen=True)
class SmsMessage:
    """A message for a gateway channel (SMS, VOICE, WHATSAPP, ZALO). `speak` asks a voice gateway to read
    the body out; `template` is the WhatsApp template name or Zalo template identifier the caller gave."""

    to: str
    body: str
    channel: str = "SMS"
    speak: bool = False
    template: str = ""


class ConsoleSmsBackend:
    def send(self, message: SmsMessage) -> None:
        sys.stdout.write(f"{message.channel} to {message.to}: {message.body}\n")
        sys.stdout.flush()


class MemorySmsBackend:
    """Keeps every message in `outbox`, like Django's locmem email backend. `fail_next` makes the next
    send raise, to test delivery failures."""

    outbox: list[SmsMessage] = []
    fail_next = False

    def send(self, message: SmsMessage) -> None:
        if MemorySmsBackend.fail_next:
            MemorySmsBackend.fail_next = False
            raise DeliveryError("The in-memory gateway was told to fail.")
        MemorySmsBackend.outbox.append(message)


class WebhookSmsBackend:
    """POSTs `{"to", "body", "channel", "speak"}` (and `template` when the caller named one) as JSON to
    OTPSITE_SMS_WEBHOOK_URL, with a Bearer token when OTPSITE_SMS_WEBHOOK_TOKEN is set: one gateway of yours
    serves every channel it is configured for and routes by `channel`. Any status other than 2xx is a
    delivery failure."""

    def send(self, message: SmsMessage) -> None:
        url = settings.OTPSITE_SMS_WEBHOOK_URL
        if not url:
            raise DeliveryError("OTPSITE_SMS_WEBHOOK_URL is not set.")
        headers = {"Content-Type": "application/json"}
        if settings.OTPSITE_SMS_WEBHOOK_TOKEN:
            headers["Authorization"] = f"Bearer {settings.OTPSITE_SMS_WEBHOOK_TOKEN}"
        request = urllib.request.Request(
            url,
            data=json.dumps(_webhook_payload(message)).encode(),
            headers=headers,
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.OTPSITE_SMS_WEBHOOK_TIMEOUT) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"The SMS gateway answered {response.status}.")
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise DeliveryError(f"The SMS gateway could not be reached: {error}") from error


def _webhook_payload(message: SmsMessage) -> dict:
    payload = {"to": message.to, "body": message.body, "channel": message.channel, "speak": message.speak}
    if message.template:
        payload["template"] = message.template
    return payload


def sms_backend():
    return import_string(settings.OTPSITE_SMS_BACKEND)()


# Each gateway channel's backend setting; EMAIL goes through Django's email framework.
GATEWAY_BACKEND_SETTINGS = {
    "SMS": "OTPSITE_SMS_BACKEND",
    "VOICE": "OTPSITE_VOICE_BACKEND",
    "WHATSAPP": "OTPSITE_WHATSAPP_BACKEND",
    "ZALO": "OTPSITE_ZALO_BACKEND",
}


def channel_available(channel: str) -> bool:
    """Whether the channel can be sent on: email always, a gateway channel when its backend is set."""
    setting = GATEWAY_BACKEND_SETTINGS.get(channel)
    return setting is None or bool(getattr(settings, setting, ""))


def gateway_backend(channel: str):
    path = getattr(settings, GATEWAY_BACKEND_SETTINGS[channel], "")
    if not path:
        raise DeliveryError(f"No gateway is configured for {channel} ({GATEWAY_BACKEND_SETTINGS[channel]}).")
    return import_string(path)()


@dataclass(frozen=True)
class Templates:
    """Caller-supplied texts (Capillary's `template` and `emailTemplate`); empty means our own."""

    sms: str = ""
    email_subject: str = ""
    email_body: str = ""
    whatsapp_template: str = ""
    zalo_template: str = ""


def fill(template: str, code: str) -> str:
    return PLACEHOLDER.sub(code, template)


def _render(kind: str, scope: str, context: dict) -> str:
    try:
        return render_to_string(f"credentials/{kind}/{scope.lower()}.txt", context)
    except TemplateDoesNotExist:
        return render_to_string(f"credentials/{kind}/default.txt", context)


def send_sms(*, to: str, code: str, scope: str, valid_minutes: int, templates: Templates) -> None:
    context = {"code": code, "scope": scope, "valid_minutes": valid_minutes}
    body = fill(templates.sms, code) if templates.sms else _render("sms", scope, context).strip()
    sms_backend().send(SmsMessage(to=to, body=body))


def send_gateway(*, channel: str, to: str, code: str, scope: str, valid_minutes: int, templates: Templates) -> None:
    """Sends the code on a gateway channel. SMS, WhatsApp and Zalo carry the SMS text (the caller's
    template when given); a voice call carries a text to speak, the code's characters one by one."""
    if channel == "SMS":
        send_sms(to=to, code=code, scope=scope, valid_minutes=valid_minutes, templates=templates)
        return
    context = {"code": code, "spoken_code": ", ".join(code), "scope": scope, "valid_minutes": valid_minutes}
    if channel == "VOICE":
        body = _render("voice", scope, context).strip()
    else:
        body = fill(templates.sms, code) if templates.sms else _render("sms", scope, context).strip()
    template = {"WHATSAPP": templates.whatsapp_template, "ZALO": templates.zalo_template}.get(channel, "")
    message = SmsMessage(to=to, body=body, channel=channel, speak=channel == "VOICE", template=template)
    gateway_backend(channel).send(message)


def send_email(*, to: str, code: str, scope: str, valid_minutes: int, templates: Templates) -> None:
    context = {"code": code, "scope": scope, "valid_minutes": valid_minutes}
    if templates.email_body:
        subject = templates.email_subject or "Validation Code"
        text = fill(templates.email_body, code)
        html = f"<p>{escape(text)}</p>"
    else:
        subject = _render("email_subject", scope, context).strip()
        text = _render("email", scope, context)
        try:
            html = render_to_string(f"credentials/email/{scope.lower()}.html", context)
        except TemplateDoesNotExist:
            html = render_to_string("credentials/email/default.html", context)
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    try:
        message.send()
    except Exception as error:  # SMTP, socket and backend errors all mean the same to the caller
        logger.warning("Email delivery to %s failed: %s", to, error)
        raise DeliveryError(f"The mail server refused the message: {error}") from error


def send_new_build_email(*, to: str, application_name: str, store_page_url: str, downloads_left: int | None) -> None:
    """Tells a person with access that a new build is ready, with a link to the store page (no code: they
    ask for one there, within their organization's limits)."""
    context = {
        "application_name": application_name,
        "store_page_url": store_page_url,
        "downloads_left": downloads_left,
    }
    subject = render_to_string("credentials/notifications/new_build_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string("credentials/notifications/new_build.txt", context), to=[to]
    )
    message.attach_alternative(render_to_string("credentials/notifications/new_build.html", context), "text/html")
    try:
        message.send()
    except Exception as error:  # SMTP, socket and backend errors all mean the same to the caller
        logger.warning("New-build email to %s failed: %s", to, error)
        raise DeliveryError(f"The mail server refused the message: {error}") from error
