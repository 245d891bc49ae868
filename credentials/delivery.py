"""Sending issued codes: email through Django's email framework, every other channel through a pluggable
gateway backend. Only the delivery worker calls these (credentials/tasks.py); nothing here runs on a web
worker.

Each gateway channel has its own backend setting, naming the class: OTPSITE_SMS_BACKEND,
OTPSITE_VOICE_BACKEND, OTPSITE_WHATSAPP_BACKEND and OTPSITE_ZALO_BACKEND. The classes are
ConsoleSmsBackend (development: prints), WebhookSmsBackend (POSTs JSON naming the channel, and for voice
that the code is to be spoken, to a gateway of yours, through httpx with a timeout) and MemorySmsBackend
(tests: keeps an outbox). An empty setting means the channel has no gateway: a request for it is refused at
once. A send returns the provider's answer, or raises DeliveryError saying whether trying again could help.
"""

import logging
import re
import smtplib
import sys
from dataclasses import dataclass

import httpx
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
ANSWER_LENGTH = 200


class DeliveryError(Exception):
    """The message could not be handed to the gateway or mail server. `permanent` is set when trying again
    cannot help (the provider refused this message or recipient, or the channel is not configured)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class SmsMessage:
    """A message for a gateway channel (SMS, VOICE, WHATSAPP, ZALO). `speak` asks a voice gateway to read
    the body out; `template` is the WhatsApp template name or Zalo template identifier the caller gave;
    `idempotency_key` stays the same when the worker repeats a send."""

    to: str
    body: str
    channel: str = "SMS"
    speak: bool = False
    template: str = ""
    idempotency_key: str = ""


class ConsoleSmsBackend:
    def send(self, message: SmsMessage) -> str:
        sys.stdout.write(f"{message.channel} to {message.to}: {message.body}\n")
        sys.stdout.flush()
        return "printed to the console"


class MemorySmsBackend:
    """Keeps every message in `outbox`, like Django's locmem email backend. `fail_next` makes the next
    so many sends raise a transient error, to test retries and failures."""

    outbox: list[SmsMessage] = []
    fail_next = 0

    def send(self, message: SmsMessage) -> str:
        if MemorySmsBackend.fail_next:
            MemorySmsBackend.fail_next -= 1
            raise DeliveryError("The in-memory gateway was told to fail.")
        MemorySmsBackend.outbox.append(message)
        return "kept in memory"


_http_client: httpx.Client | None = None


def http_client() -> httpx.Client:
    """One pooled client per process (the worker's); each request passes the gateway timeout."""
    global _http_client
    if _http_client is None:
        _http_client = httpx.Client()
    return _http_client


class WebhookSmsBackend:
    """POSTs `{"to", "body", "channel", "speak"}` (and `template` when the caller named one) as JSON to
    OTPSITE_SMS_WEBHOOK_URL, with a Bearer token when OTPSITE_SMS_WEBHOOK_TOKEN is set and an
    `Idempotency-Key` header that stays the same when a send is repeated: one gateway of yours serves every
    channel it is configured for and routes by `channel`. 2xx is accepted; 408, 429 and 5xx, timeouts and
    connection errors are worth another try; any other status is a refusal."""

    def send(self, message: SmsMessage) -> str:
        url = settings.OTPSITE_SMS_WEBHOOK_URL
        if not url:
            raise DeliveryError("OTPSITE_SMS_WEBHOOK_URL is not set.", permanent=True)
        headers = {}
        if settings.OTPSITE_SMS_WEBHOOK_TOKEN:
            headers["Authorization"] = f"Bearer {settings.OTPSITE_SMS_WEBHOOK_TOKEN}"
        if message.idempotency_key:
            headers["Idempotency-Key"] = message.idempotency_key
        try:
            response = http_client().post(
                url,
                json=_webhook_payload(message),
                headers=headers,
                timeout=httpx.Timeout(settings.OTPSITE_SMS_WEBHOOK_TIMEOUT),
            )
        except httpx.TimeoutException as error:
            waited = f"{settings.OTPSITE_SMS_WEBHOOK_TIMEOUT} s ({type(error).__name__})"
            raise DeliveryError(f"The SMS gateway did not answer within {waited}.") from error
        except httpx.TransportError as error:
            raise DeliveryError(f"The SMS gateway could not be reached: {error}") from error
        answer = f"{response.status_code} {response.text[:ANSWER_LENGTH]}".strip()
        if response.is_success:
            return answer
        transient = response.status_code in (408, 429) or response.status_code >= 500
        raise DeliveryError(f"The SMS gateway answered {answer}", permanent=not transient)


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
    """Whether the channel can be sent on: email when an email backend is set, a gateway channel when its
    backend is set (and, for the webhook, its URL). Known before issuing, so the API answers it at once
    instead of queueing a message that cannot go out."""
    setting = GATEWAY_BACKEND_SETTINGS.get(channel)
    if setting is None:
        return bool(settings.EMAIL_BACKEND)
    path = getattr(settings, setting, "")
    if path.endswith(".WebhookSmsBackend") and not settings.OTPSITE_SMS_WEBHOOK_URL:
        return False
    return bool(path)


def gateway_backend(channel: str):
    path = getattr(settings, GATEWAY_BACKEND_SETTINGS[channel], "")
    if not path:
        raise DeliveryError(
            f"No gateway is configured for {channel} ({GATEWAY_BACKEND_SETTINGS[channel]}).", permanent=True
        )
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


def send_sms(*, to: str, code: str, scope: str, valid_minutes: int, templates: Templates, key: str = "") -> str:
    context = {"code": code, "scope": scope, "valid_minutes": valid_minutes}
    body = fill(templates.sms, code) if templates.sms else _render("sms", scope, context).strip()
    return sms_backend().send(SmsMessage(to=to, body=body, idempotency_key=key))


def send_gateway(
    *, channel: str, to: str, code: str, scope: str, valid_minutes: int, templates: Templates, key: str = ""
) -> str:
    """Sends the code on a gateway channel. SMS, WhatsApp and Zalo carry the SMS text (the caller's
    template when given); a voice call carries a text to speak, the code's characters one by one."""
    if channel == "SMS":
        return send_sms(to=to, code=code, scope=scope, valid_minutes=valid_minutes, templates=templates, key=key)
    context = {"code": code, "spoken_code": ", ".join(code), "scope": scope, "valid_minutes": valid_minutes}
    if channel == "VOICE":
        body = _render("voice", scope, context).strip()
    else:
        body = fill(templates.sms, code) if templates.sms else _render("sms", scope, context).strip()
    template = {"WHATSAPP": templates.whatsapp_template, "ZALO": templates.zalo_template}.get(channel, "")
    message = SmsMessage(
        to=to, body=body, channel=channel, speak=channel == "VOICE", template=template, idempotency_key=key
    )
    return gateway_backend(channel).send(message)


def send_email(*, to: str, code: str, scope: str, valid_minutes: int, templates: Templates, key: str = "") -> str:
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
    # The Message-ID stays the same when a send is repeated, so that mail systems can drop the duplicate.
    headers = {"Message-ID": f"<{key}@otpsite>"} if key else {}
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to], headers=headers)
    message.attach_alternative(html, "text/html")
    return _send_mail(message)


def _send_mail(message: EmailMultiAlternatives) -> str:
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as error:
        raise DeliveryError(f"The mail server refused the recipient: {_smtp_answer(error)}", permanent=True) from error
    except smtplib.SMTPResponseException as error:
        permanent = 500 <= error.smtp_code < 600
        raise DeliveryError(
            f"The mail server answered {error.smtp_code} {_decode(error.smtp_error)}", permanent=permanent
        ) from error
    except TimeoutError as error:
        raise DeliveryError(f"The mail server did not answer within {settings.EMAIL_TIMEOUT} s.") from error
    except smtplib.SMTPServerDisconnected as error:
        if isinstance(error.__context__, TimeoutError):  # smtplib reports a read timeout as a disconnect
            raise DeliveryError(f"The mail server did not answer within {settings.EMAIL_TIMEOUT} s.") from error
        raise DeliveryError(f"The mail server closed the connection: {error}") from error
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"The mail server could not be reached: {type(error).__name__}: {error}") from error
    return "accepted by the mail server"


def _decode(value) -> str:
    return (value.decode(errors="replace") if isinstance(value, bytes) else str(value))[:ANSWER_LENGTH]


def _smtp_answer(error: smtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{code} {_decode(text)}" for code, text in error.recipients.values())


def send(channel: str, **kwargs) -> str:
    if channel == "EMAIL":
        return send_email(**kwargs)
    return send_gateway(channel=channel, **kwargs)


def send_new_build_email(
    *, to: str, application_name: str, store_page_url: str, downloads_left: int | None, key: str = ""
) -> str:
    """Tells a person with access that a new build is ready, with a link to the store page (no code: they
    ask for one there, within their organization's limits). `key` makes the Message-ID, the same on every
    try of the same email."""
    context = {
        "application_name": application_name,
        "store_page_url": store_page_url,
        "downloads_left": downloads_left,
    }
    subject = render_to_string("credentials/notifications/new_build_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("credentials/notifications/new_build.txt", context),
        to=[to],
        headers={"Message-ID": f"<{key}@otpsite>"} if key else {},
    )
    message.attach_alternative(render_to_string("credentials/notifications/new_build.html", context), "text/html")
    return _send_mail(message)
