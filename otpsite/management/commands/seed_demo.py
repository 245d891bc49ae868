"""Demo data for `make run`: safe to run again, it finds what it made before instead of duplicating it.

Each run gives the demo superuser and the demo API key fresh secrets (neither is kept in plaintext, so a
second run could not print the old ones) and prints them with one working curl per surface."""

import hashlib
import secrets
import time

import jwt
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction

from credentials import services as card_services
from otpsite import demo_activity
from otpusers import services
from otpusers.audit import Actor
from otpusers.models import ApiKey, AppAccess, Organization, PublishedApplication, Store
from otpusers.registry import API_PERMISSIONS

DEMO_USERNAME = "admin"
DEMO_KEY_NAME = "Demo key (every permission)"
PEOPLE = [
    ("ana.garcia@example.com", "+4915110000001", "beta-ios", 3),
    ("ben.okafor@example.com", "+4915110000002", "beta-ios", -1),
    ("chen.li@example.com", "+4915110000003", "beta-android", 1),
    ("dana.schmidt@example.com", "+4915110000004", "beta-android", 5),
    ("eli.cohen@example.com", "+4915110000005", "beta-ios", 2),
]


class Command(BaseCommand):
    help = "Creates (or refreshes) the demo organization, store, apps, people, API key and superuser."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    @transaction.atomic
    def handle(self, *args, base_url: str, **options):
        actor = Actor.system("seed_demo")
        organization, _ = Organization.objects.get_or_create(
            slug="acme", defaults={"name": "Acme Mobile", "ext_id": "acme", "code_read_back_allowed": True}
        )
        store, _ = Store.objects.get_or_create(
            organization=organization, slug="acme-store", defaults={"name": "Acme App Store"}
        )
        applications = {
            slug: PublishedApplication.objects.get_or_create(store=store, slug=slug, defaults={"name": name})[0]
            for slug, name in (("beta-ios", "Acme Beta for iOS"), ("beta-android", "Acme Beta for Android"))
        }
        for application in applications.values():
            if not application.build_file:
                application.build_file.save(f"{application.slug}-demo.txt", ContentFile(b"A demo build.\n"))
        for email, mobile, app_slug, allowed in PEOPLE:
            person = services.otp_user_get_or_create_by_email(organization=organization, email=email, actor=actor)
            if not person.mobile:
                person.mobile = mobile
                person.user_name = person.ext_id = email.split("@")[0]
                person.first_name, person.last_name = (part.title() for part in person.user_name.split("."))
                person.save(update_fields=["mobile", "user_name", "ext_id", "first_name", "last_name", "updated_at"])
            application = applications[app_slug]
            if not AppAccess.objects.filter(published_application=application, otp_user=person).exists():
                services.app_access_create(
                    published_application=application,
                    otp_user=person,
                    allowed_downloads_num=allowed,
                    actor=actor,
                )

        card_holder = organization.people.get(ext_id="ana.garcia")
        card = card_holder.otp_cards.first() or card_services.card_create(
            person=card_holder, ext_id="otp-ana", state="active", actor=actor
        )

        if demo_activity.seed_activity(organization=organization, actor=actor):
            demo_activity.refresh_dashboard()

        api_key = ApiKey.objects.filter(organization=organization, name=DEMO_KEY_NAME).first()
        if api_key is None:
            api_key, secret = services.api_key_create(
                organization=organization, name=DEMO_KEY_NAME, permissions=list(API_PERMISSIONS), actor=actor
            )
        else:
            services.api_key_update(
                api_key=api_key,
                name=DEMO_KEY_NAME,
                permissions=list(API_PERMISSIONS),
                expires_at=None,
                actor=actor,
            )
            secret = services.api_key_rotate(api_key=api_key, actor=actor)
        token = services.api_key_token(api_key, secret)

        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        admin_user = user_model.objects.filter(username=DEMO_USERNAME).first()
        if admin_user is None:
            admin_user = user_model.objects.create_superuser(DEMO_USERNAME, "admin@example.com", password)
        else:
            admin_user.set_password(password)
            admin_user.is_staff = admin_user.is_superuser = admin_user.is_active = True
            admin_user.save()
        organization.staff.add(admin_user)

        capillary_login = f"{api_key.key_id}:{hashlib.md5(secret.encode()).hexdigest()}"
        mobile = PEOPLE[0][1]
        nevis_core = f"{base_url}/nevisidm/api/core/v1/acme/users/ana.garcia/otp-credentials"
        nevis_auth = f"{base_url}/nevisidm/api/auth/v1/acme/users/ana.garcia/otp"
        self_admin = (
            jwt.encode(
                {"sub": "ana.garcia", "client": "acme", "exp": int(time.time()) + 86_400},
                settings.OTPSITE_SELF_ADMIN_JWT_KEY,
                algorithm="HS256",
            )
            if settings.OTPSITE_SELF_ADMIN_JWT_KEY
            else "(self-admin tokens are off: OTPSITE_SELF_ADMIN_JWT_KEY is empty)"
        )
        otp_users = f"{base_url}/v1/organizations/{organization.slug}/stores/{store.public_id}/otp-users"
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "otpsite demo is ready (secrets are new on every run)",
                    f"  Admin:        {base_url}/admin/   user {DEMO_USERNAME}   password {password}",
                    f"  Swagger UI:   {base_url}/api/docs/",
                    f"  Store page:   {base_url}/store/{store.slug}/beta-ios/   (sign in as {PEOPLE[0][0]}; "
                    "the emailed code is printed by the server)",
                    f"  OpenAPI:      {base_url}/api/schema/",
                    f"  Demo API key: {token}",
                    f"                ({', '.join(api_key.permissions)})",
                    "",
                    "  Applivery stores, then the store's published applications (organization by id or slug):",
                    f'    curl -s -H "Authorization: Bearer {token}" "{base_url}/v1/organizations/'
                    f'{organization.public_id}/stores"',
                    f'    curl -s -H "Authorization: Bearer {token}" "{base_url}/v1/organizations/'
                    f'{organization.slug}/stores/{store.public_id}/pubApps"',
                    "  Applivery OTP users (list):",
                    f'    curl -s -H "Authorization: Bearer {token}" "{otp_users}"',
                    "  Applivery OTP users (create):",
                    f'    curl -s -X POST -H "Authorization: Bearer {token}" '
                    '-H "Content-Type: application/json" '
                    f'-d \'{{"email": "new.person@example.com", "allowedDownloadsNum": 2, '
                    f'"publishedApplicationId": "{applications["beta-ios"].public_id}"}}\' "{otp_users}"',
                    "  Capillary generate OTP (the SMS is printed by the server):",
                    f'    curl -s -u "{capillary_login}" -H "Content-Type: application/json" '
                    f'-d \'{{"entityType": "MOBILE", "entityValue": "{mobile}", "action": "GENERIC", '
                    f'"channels": [{{"type": "SMS", "value": "{mobile}"}}]}}\' "{base_url}/v2/otp/generate"',
                    "  Capillary get OTP (read back the code just sent):",
                    f'    curl -s -u "{capillary_login}" "{base_url}/v2/otp?identifierName=mobile'
                    f'&identifierValue=%2B{mobile[1:]}&source=INSTORE&scope=GENERIC&threshold=600"',
                    "  Capillary validate OTP (put the code in):",
                    f'    curl -s -u "{capillary_login}" -H "Content-Type: application/json" '
                    f'-d \'{{"entityType": "MOBILE", "entityValue": "{mobile}", "code": "CODE", '
                    '"action": "GENERIC"}\' '
                    f'"{base_url}/v2/otp/validate"',
                    "  Capillary OAuth: a token from the key id and secret, then get OTP with it (valid "
                    f"{settings.OTPSITE_CAPILLARY_OAUTH_TTL_SECONDS} s):",
                    f'    CAP_TOKEN=$(curl -s -H "Content-Type: application/json" '
                    f'-d \'{{"key": "{api_key.key_id}", "secret": "{secret}"}}\' "{base_url}/v3/oauth/token/generate" '
                    '| python3 -c \'import json, sys; print(json.load(sys.stdin)["data"]["accessToken"])\')',
                    f'    curl -s -H "X-CAP-API-OAUTH-TOKEN: $CAP_TOKEN" "{base_url}/v2/otp?identifierName=mobile'
                    f'&identifierValue=%2B{mobile[1:]}&source=INSTORE&scope=GENERIC&threshold=600"',
                    "  Manage send OTP (otpsite extension; the SMS is printed by the server):",
                    f'    curl -s -u "{api_key.key_id}:{secret}" -H "Content-Type: application/json" '
                    f'-d \'{{"userName": "ben.okafor", "phoneNumber": "{PEOPLE[1][1]}", "channel": "sms"}}\' '
                    f'"{base_url}/manage/v2/user/send/otp"',
                    "  Manage validate OTP (put the code in):",
                    f'    curl -s -u "{api_key.key_id}:{secret}" -H "Content-Type: application/json" '
                    f'-d \'{{"userName": "ben.okafor", "phoneNumber": "{PEOPLE[1][1]}", "otp": "CODE"}}\' '
                    f'"{base_url}/manage/v2/user/validate/otp"',
                    "  nevisIDM get the OTP card (its `otp` holds the grid, to answer challenges by hand):",
                    f'    curl -s -H "Authorization: Bearer {token}" "{nevis_core}/{card.ext_id}"',
                    "  nevisIDM the same, as the user herself (self-admin X-Token, valid one day):",
                    f'    curl -s -H "X-Token: {self_admin}" "{nevis_core}/{card.ext_id}"',
                    "  nevisIDM challenge, then login (put the cell's digits in):",
                    f'    curl -s -X POST -H "Authorization: Bearer {token}" "{nevis_auth}/challenge"',
                    f'    curl -s -H "Authorization: Bearer {token}" -H "Content-Type: application/json" '
                    f'-d \'{{"challenge": "CHALLENGE", "password": "DIGITS"}}\' "{nevis_auth}/login"',
                    "",
                ]
            )
        )
