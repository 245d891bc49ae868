"""Run by tests/test_sqlite.py in a process of its own, on the embedded SQLite database `make run` serves
from (the suite itself runs on PostgreSQL): issues, reads back and checks a code through the Capillary
surface, sets an allowance and records a sign-in, and prints each answer as a JSON line."""

import base64
import hashlib
import json
import os
import sys


def main(database: str) -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(DJANGO_SETTINGS_MODULE="otpsite.settings", DJANGO_DEBUG="true", DJANGO_ALLOWED_HOSTS="testserver")
    import django
    from django.conf import settings

    django.setup()
    settings.DATABASES["default"]["NAME"] = database
    from django.core.management import call_command
    from django.test import Client

    from tests.factories import OrganizationFactory, OtpUserFactory, make_api_key

    call_command("migrate", verbosity=0)
    organization = OrganizationFactory(code_read_back_allowed=True)
    OtpUserFactory(organization=organization, mobile="+4915100000042")
    api_key, token = make_api_key(organization, "capillary.otp.read", "capillary.otp.write")
    md5 = hashlib.md5(token.split(".", 1)[1].encode()).hexdigest()
    headers = {"Authorization": "Basic " + base64.b64encode(f"{api_key.key_id}:{md5}".encode()).decode()}
    client = Client(headers=headers)
    person = {"entityType": "MOBILE", "entityValue": "+4915100000042", "action": "GENERIC"}

    def answer(step: str, response) -> dict:
        print(json.dumps({"step": step, "status": response.status_code, "body": response.json()}), flush=True)
        return response.json()

    answer("generate", client.post("/v2/otp/generate", {**person, "channels": [{"type": "SMS"}]}, "application/json"))
    query = "identifierName=mobile&identifierValue=%2B4915100000042&source=INSTORE&scope=GENERIC"
    code = answer("read back", client.get(f"/v2/otp?{query}")).get("code", "")
    answer("validate wrong", client.post("/v2/otp/validate", {**person, "code": "0" * 6}, "application/json"))
    answer("validate right", client.post("/v2/otp/validate", {**person, "code": code}, "application/json"))

    # The writes that are one statement with their audit event on PostgreSQL, a transaction here.
    from otpusers import services
    from otpusers.audit import Actor
    from otpusers.models import AppAccess, AuditEvent
    from tests.factories import AppAccessFactory

    access = AppAccessFactory(allowed_downloads_num=3)
    services.app_access_update(access=access, allowed_downloads_num=5, actor=Actor.system("sqlite"))
    services.app_access_record_login(access=access, actor=Actor.system("sqlite"))
    stored = AppAccess.objects.get(pk=access.pk)
    events = list(AuditEvent.objects.filter(object_id=access.public_id).order_by("pk").values_list("action", "detail"))
    print(
        json.dumps(
            {
                "step": "allowance and sign-in",
                "allowed": stored.allowed_downloads_num,
                "signed_in": stored.last_login_at is not None,
                "events": events,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1])
