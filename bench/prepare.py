"""The tenant the load runs against, and the pre-generated requests that make every request do full work.

The tenant (organizations, store, application, API keys, card policy, superuser) is made through the ORM and
the services. Then, for each endpoint, a file of requests that wrk walks (bench/lua/requests.lua): reads cycle
over a few thousand objects; requests that consume what they use get one fresh item each: a right code per
validate (made here with the real digest, and sealed where read-back is on), a waiting challenge per login
(the answer read from the card's grid), a card per PATCH/replace/delete, a person with room in the daily limit
per generate/send. People are drawn at random from the whole id range, the oldest included.
"""

import base64
import hashlib
import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.models import AutoField
from django.utils import timezone

from bench.seed import SCOPES, BulkIds, Scale
from credentials import card as card_maths
from credentials import codes, crypto
from credentials.choices import CardState
from credentials.models import IssuedCode, OtpCard
from credentials.services import card_policy_default, hmac_key
from otpusers.audit import Actor
from otpusers.ids import new_object_id
from otpusers.models import AppAccess, Organization, OtpUser, PublishedApplication, Store
from otpusers.registry import API_PERMISSIONS
from otpusers.services import api_key_create, api_key_token

CAPILLARY_SCOPES = [scope for scope in SCOPES if scope not in ("GENERIC", "STORE_LOGIN")]
GENERATE_SCOPES = CAPILLARY_SCOPES[:8]  # + GENERIC (send) + STORE_LOGIN (store page) = the daily limit of 10
CSRF_TOKEN = "benchcsrftoken0123456789abcdefgh"  # 32 characters: Django accepts an unmasked secret
CLIENT_EXT_ID = "bench-client"
READ_POOL = 1000


def mobile(n: int) -> str:
    return f"+1555{n:08d}"


def email(n: int) -> str:
    return f"p{n}@bench.example"


@dataclass
class Tenant:
    organization: Organization
    store: Store
    application: PublishedApplication
    bearer: str
    basic: str
    basic_md5: str
    superuser_id: int
    api_key_id: int
    key_id: str
    secret: str


def create_tenant() -> Tenant:
    """One big organization (code read-back on, as Capillary's Get OTP needs) and two small ones."""
    actor = Actor.system("bench")
    organization = Organization.objects.create(
        name="Bench Corp", slug="bench", ext_id=CLIENT_EXT_ID, code_read_back_allowed=True
    )
    store = Store.objects.create(organization=organization, name="Bench store", slug="bench-store")
    application = PublishedApplication.objects.create(store=store, name="Bench app", slug="bench-app")
    card_policy_default(organization=organization)
    for number in (1, 2):
        small = Organization.objects.create(name=f"Small {number}", slug=f"small-{number}", ext_id=f"small-{number}")
        small_store = Store.objects.create(organization=small, name=f"Small store {number}", slug=f"small-{number}")
        small_app = PublishedApplication.objects.create(store=small_store, name="App", slug="app")
        people = OtpUser.objects.bulk_create(
            OtpUser(organization=small, email=email(n), mobile=mobile(n), user_name=f"user{n}", ext_id=f"u{n}")
            for n in range(1, 201)
        )
        AppAccess.objects.bulk_create(
            AppAccess(published_application=small_app, otp_user=person, allowed_downloads_num=-1) for person in people
        )
        api_key_create(organization=small, name="small", permissions=list(API_PERMISSIONS), actor=actor)
    api_key, secret = api_key_create(
        organization=organization, name="bench", permissions=list(API_PERMISSIONS), actor=actor
    )
    user = get_user_model().objects.create_superuser("bench", "bench@bench.example", secrets.token_urlsafe(16))

    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"{api_key.key_id}:{password}".encode()).decode()

    return Tenant(
        organization=organization,
        store=store,
        application=application,
        bearer=f"Bearer {api_key_token(api_key, secret)}",
        basic=basic(secret),
        basic_md5=basic(hashlib.md5(secret.encode()).hexdigest()),
        superuser_id=user.pk,
        api_key_id=api_key.pk,
        key_id=api_key.key_id,
        secret=secret,
    )


@dataclass
class Endpoint:
    """One row of the table: a file of requests, the statuses that count as success, and its target."""

    name: str
    surface: str
    kind: str  # read, list, write, consume: what the issue's target is for (see run.TARGETS)
    expect: tuple[int, ...]
    cycle: bool
    lines: list[str] = field(default_factory=list)

    def add(self, method: str, path: str, body: str = "", **headers: str) -> None:
        fields = [method, path, body, *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
        self.lines.append("\t".join(fields))


def _json(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"))


class Pools:
    """Disjoint random samples of the valid bulk people (every 200th is deactivated by the seed)."""

    def __init__(self, people: int, seed: int):
        self.rng = random.Random(seed)
        self.people = people

    def draw(self, sizes: dict[str, int]) -> dict[str, list[int]]:
        wanted = sum(sizes.values())
        sample = []
        while len(sample) < wanted:
            sample = [n for n in self.rng.sample(range(1, self.people + 1), min(self.people, wanted * 2)) if n % 200]
            if len(sample) < wanted and wanted * 2 >= self.people:
                raise SystemExit(f"bench: {wanted:,} people needed for the load, the scale has {self.people:,}.")
        pools, start = {}, 0
        for name, size in sizes.items():
            pools[name] = sample[start : start + size]
            start += size
        return pools


def _issue(person_id: int, n: int, scope: str, organization: Organization, now, sealed: bool) -> tuple[IssuedCode, str]:
    """A code as credentials.services.code_issue makes it (digest, sealed copy), without sending it."""
    plaintext = codes.generate_code(organization.code_length, organization.code_alphabet)
    public_id = new_object_id()
    identifier_type, value = ("email", email(n)) if scope == "STORE_LOGIN" else ("mobile", mobile(n))
    return IssuedCode(
        organization=organization,
        otp_user_id=person_id,
        public_id=public_id,
        identifier_type=identifier_type,
        identifier_value=value,
        scope=scope,
        surface="store" if scope == "STORE_LOGIN" else "capillary",
        channels=["EMAIL" if scope == "STORE_LOGIN" else "SMS"],
        code_digest=codes.code_digest(key=hmac_key(), salt=public_id, code=plaintext),
        code_sealed=crypto.seal(plaintext, associated_data=public_id) if sealed else "",
        valid_until=now + timedelta(hours=6),
        max_attempts=organization.code_max_attempts,
        last_sent_at=now,
        created_at=now,
        delivery_status="sent",
    ), plaintext


def _card(person_id: int, organization: Organization, policy, now, challenge: bool) -> tuple[OtpCard, str, str]:
    """An active card as card_create makes it; with `challenge`, one cell challenged as card_challenge does.
    Returns the card, the waiting challenge and its right answer."""
    geometry = card_maths.Geometry(policy.rows, policy.cols, policy.coordinate_card_format)
    card = OtpCard(
        organization=organization,
        otp_user_id=person_id,
        policy=policy,
        state=CardState.ACTIVE,
        state_change_reason="created",
        rows=policy.rows,
        cols=policy.cols,
        coordinate_card_format=policy.coordinate_card_format,
        valid_from=now - timedelta(days=1),
        valid_to=now + timedelta(days=policy.credential_lifetime_days),
        created_at=now,
        updated_at=now,
    )
    card.ext_id = card.public_id
    # Uniform digits as card_maths.generate_cells makes them, drawn as one big random number per card (fast).
    width = policy.cell_length * geometry.cells
    digits = f"{secrets.randbelow(10**width):0{width}d}"
    cells = [digits[index : index + policy.cell_length] for index in range(0, width, policy.cell_length)]
    card.grid_sealed = crypto.seal("".join(cells), associated_data=f"otpcard:{card.public_id}")
    counters = [0] * geometry.cells
    name = answer = ""
    if challenge:
        index = card_maths.pick_unused_cell(counters)
        counters[index] = 1
        name, answer = geometry.challenge_name(index), cells[index]
        card.latest_challenge = name
    card.counters = "".join(card_maths.COUNTER_DIGITS[count] for count in counters)
    card.cells_remaining = geometry.cells - sum(counters)
    return card, name, answer


def _bulk(model, rows: list) -> None:
    """Writes model instances with COPY (bulk_create is the slow part of preparing at this volume)."""
    fields = [field for field in model._meta.concrete_fields if not isinstance(field, AutoField)]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields])


def build_endpoints(*, tenant: Tenant, scale: Scale, ids: BulkIds, consume: int) -> list[Endpoint]:
    """Every endpoint's requests. `consume` is how many fresh items each consuming endpoint gets."""
    organization, store, application = tenant.organization, tenant.store, tenant.application
    policy = card_policy_default(organization=organization)
    now = timezone.now()
    person = lambda n: ids.people + n  # noqa: E731 (the seed numbers people: id = base + n)
    access = lambda n: ids.accesses + n  # noqa: E731
    wrong_guesses = 4  # one under the organization's 5 attempts, so no wrong guess finds a locked code
    code_pools = Pools(scale.people, seed=9).draw(
        {
            "right": consume,
            "wrong": -(-consume // wrong_guesses),
            "room": consume,
            "unaccess": consume,
            "read": READ_POOL,
        }
    )
    # A card is PATCHed (comment only, version 0 → 1) before it logs in, and replaced before it is deleted.
    card_pools = Pools(scale.people, seed=10).draw(
        {"patch_login": consume, "replace_delete": consume, "create": consume, "read": READ_POOL}
    )

    # Right codes: GENERIC (manage) and STORE_LOGIN (store page) for each person of the pool, the 9 Capillary
    # scopes for the first ninth; codes to guess wrong likewise. Read-back codes are sealed.
    issued, right, wrong = [], {}, {}
    capillary_right = code_pools["right"][: -(-consume // len(CAPILLARY_SCOPES))]
    capillary_wrong = code_pools["wrong"][: -(-consume // (len(CAPILLARY_SCOPES) * wrong_guesses))]
    wanted = [(n, scope, right) for n in code_pools["right"] for scope in ("GENERIC", "STORE_LOGIN")]
    wanted += [(n, scope, right) for n in capillary_right for scope in CAPILLARY_SCOPES]
    wanted += [(n, "GENERIC", wrong) for n in code_pools["wrong"]]
    wanted += [(n, scope, wrong) for n in capillary_wrong for scope in CAPILLARY_SCOPES]
    for n, scope, plaintexts in wanted:
        code, plaintext = _issue(person(n), n, scope, organization, now, sealed=False)
        issued.append(code)
        guess = plaintext if plaintexts is right else ("1" if plaintext[0] == "0" else "0") + plaintext[1:]
        plaintexts[n, scope] = guess
    for n in code_pools["read"]:
        issued.append(_issue(person(n), n, "COUPON", organization, now, sealed=True)[0])
    _bulk(IssuedCode, issued)

    cards, answers = [], []
    for pool in ("patch_login", "replace_delete", "read"):
        for n in card_pools[pool]:
            card, name, answer = _card(person(n), organization, policy, now, challenge=pool == "patch_login")
            cards.append(card)
            answers.append((pool, n, card.ext_id, name, answer))
    _bulk(OtpCard, cards)

    # Store page: one prepared session per verify, holding the email step as the page leaves it.
    state_key = f"store:{application.public_id}"
    sessions, session_keys = [], []
    for n in code_pools["right"]:
        key = secrets.token_hex(16)
        data = {state_key: {"email": email(n), "requested_at": now.timestamp() - 60, "attempts": 0}}
        sessions.append(
            Session(session_key=key, session_data=SessionStore().encode(data), expire_date=now + timedelta(days=1))
        )
        session_keys.append((n, key))
    _bulk(Session, sessions)

    json_headers = {"Content_Type": "application/json"}
    applivery = f"/v1/organizations/{organization.slug}/stores/{store.public_id}/otp-users"
    nevis_core = f"/nevisidm/api/core/v1/{CLIENT_EXT_ID}/users"
    nevis_auth = f"/nevisidm/api/auth/v1/{CLIENT_EXT_ID}/users"
    store_page = f"/store/{store.slug}/{application.slug}/"
    form = {"Content_Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={CSRF_TOKEN}"}
    read_accesses = [access(n) for n in code_pools["read"]]
    access_public_ids = dict(AppAccess.objects.filter(pk__in=read_accesses).values_list("pk", "public_id"))
    delete_public_ids = dict(
        AppAccess.objects.filter(pk__in=[access(n) for n in code_pools["unaccess"]]).values_list("pk", "public_id")
    )
    endpoints = []

    def endpoint(name, surface, kind, expect=(200,), cycle=False) -> Endpoint:
        endpoints.append(Endpoint(name, surface, kind, expect, cycle))
        return endpoints[-1]

    auth = {"Authorization": tenant.bearer}
    e = endpoint("Applivery list", "applivery", "list", cycle=True)
    for page in range(1, 11):
        e.add("GET", f"{applivery}?page={page}", **auth)
    e = endpoint("Applivery GET", "applivery", "read", cycle=True)
    for pk in read_accesses:
        e.add("GET", f"{applivery}/{access_public_ids[pk]}", **auth)
    e = endpoint("Applivery PUT", "applivery", "write", cycle=True)
    for index, pk in enumerate(read_accesses * 4):
        e.add(
            "PUT",
            f"{applivery}/{access_public_ids[pk]}",
            _json({"allowedDownloadsNum": index % 50}),
            **auth,
            **json_headers,
        )
    e = endpoint("Applivery stores list", "applivery", "list", cycle=True)
    e.add("GET", f"/v1/organizations/{organization.public_id}/stores", **auth)
    publications = f"/v1/organizations/{organization.public_id}/stores/{store.public_id}/pubApps"
    e = endpoint("Applivery pubApps list", "applivery", "list", cycle=True)
    e.add("GET", publications, **auth)
    e = endpoint("Applivery pubApps GET", "applivery", "read", cycle=True)
    e.add("GET", f"{publications}/{application.public_id}", **auth)
    e = endpoint("Applivery create", "applivery", "other")
    for index in range(consume):
        body = {
            "email": f"new{index}@bench.example",
            "allowedDownloadsNum": 3,
            "publishedApplicationId": application.public_id,
        }
        e.add("POST", applivery, _json(body), **auth, **json_headers)
    e = endpoint("Applivery DELETE", "applivery", "other")
    for n in code_pools["unaccess"]:
        e.add("DELETE", f"{applivery}/{delete_public_ids[access(n)]}", **auth)

    e = endpoint("Capillary OAuth token", "capillary", "other", cycle=True)
    e.add("POST", "/v3/oauth/token/generate", _json({"key": tenant.key_id, "secret": tenant.secret}), **json_headers)
    auth = {"Authorization": tenant.basic_md5}
    e = endpoint("Capillary GET (read back)", "capillary", "read", cycle=True)
    for n in code_pools["read"]:
        query = urlencode(
            {"identifierName": "mobile", "identifierValue": mobile(n), "source": "INSTORE", "scope": "COUPON"}
        )
        e.add("GET", f"/v2/otp?{query}", **auth)
    e = endpoint("Capillary generate", "capillary", "write")
    for scope in GENERATE_SCOPES:
        for n in code_pools["room"]:
            body = {"entityType": "MOBILE", "entityValue": mobile(n), "action": scope, "channels": [{"type": "SMS"}]}
            e.add("POST", "/v2/otp/generate", _json(body), **auth, **json_headers)
    e = endpoint("Capillary validate right", "capillary", "write")
    for scope in CAPILLARY_SCOPES:
        for n in capillary_right:
            body = {"entityType": "MOBILE", "entityValue": mobile(n), "action": scope, "code": right[n, scope]}
            e.add("POST", "/v2/otp/validate", _json(body), **auth, **json_headers)
    e = endpoint("Capillary validate wrong", "capillary", "write")
    for _ in range(wrong_guesses):
        for scope in CAPILLARY_SCOPES:
            for n in capillary_wrong:
                body = {"entityType": "MOBILE", "entityValue": mobile(n), "action": scope, "code": wrong[n, scope]}
                e.add("POST", "/v2/otp/validate", _json(body), **auth, **json_headers)

    auth = {"Authorization": tenant.basic}
    e = endpoint("manage validate right", "manage", "write")
    for n in code_pools["right"]:
        body = {"userName": f"user{n}", "phoneNumber": mobile(n), "otp": right[n, "GENERIC"]}
        e.add("POST", "/manage/v2/user/validate/otp", _json(body), **auth, **json_headers)
    e = endpoint("manage validate wrong", "manage", "write", expect=(400,))
    for _ in range(wrong_guesses):
        for n in code_pools["wrong"]:
            body = {"userName": f"user{n}", "phoneNumber": mobile(n), "otp": wrong[n, "GENERIC"]}
            e.add("POST", "/manage/v2/user/validate/otp", _json(body), **auth, **json_headers)
    e = endpoint("manage send", "manage", "write")
    for n in code_pools["room"]:
        body = {"userName": f"user{n}", "phoneNumber": mobile(n), "channel": "sms"}
        e.add("POST", "/manage/v2/user/send/otp", _json(body), **auth, **json_headers)

    auth = {"Authorization": tenant.bearer}
    by_pool: dict[str, list[tuple]] = {}
    for pool, n, ext_id, name, answer in answers:
        by_pool.setdefault(pool, []).append((n, ext_id, name, answer))
    e = endpoint("nevisIDM list", "nevisidm", "list", cycle=True)
    for n, _, _, _ in by_pool["read"]:
        e.add("GET", f"{nevis_core}/u{n}/otp-credentials", **auth)
    e = endpoint("nevisIDM GET", "nevisidm", "read", cycle=True)
    for n, ext_id, _, _ in by_pool["read"]:
        e.add("GET", f"{nevis_core}/u{n}/otp-credentials/{ext_id}", **auth)
    e = endpoint("nevisIDM create", "nevisidm", "other", expect=(201,))
    for n in card_pools["create"]:
        e.add("POST", f"{nevis_core}/u{n}/otp-credentials", _json({"stateName": "active"}), **auth, **json_headers)
    e = endpoint("nevisIDM PATCH", "nevisidm", "other")
    for n, ext_id, _, _ in by_pool["patch_login"]:
        body = {"version": 0, "modificationComment": "bench"}
        e.add("PATCH", f"{nevis_core}/u{n}/otp-credentials/{ext_id}", _json(body), **auth, **json_headers)
    e = endpoint("nevisIDM replace", "nevisidm", "other")
    for n, ext_id, _, _ in by_pool["replace_delete"]:
        body = {"version": 0, "modificationComment": "bench"}
        e.add("POST", f"{nevis_core}/u{n}/otp-credentials/{ext_id}/replace", _json(body), **auth, **json_headers)
    e = endpoint("nevisIDM DELETE", "nevisidm", "other", expect=(204,))
    for n, ext_id, _, _ in by_pool["replace_delete"]:
        e.add("DELETE", f"{nevis_core}/u{n}/otp-credentials/{ext_id}", **auth)
    e = endpoint("nevisIDM challenge", "nevisidm", "write", cycle=True)
    for n, _, _, _ in by_pool["read"]:  # cycled: 168 cells a card, so no card runs out
        e.add("POST", f"{nevis_auth}/u{n}/otp/challenge", **auth)
    e = endpoint("nevisIDM login", "nevisidm", "write")
    for n, _, name, answer in by_pool["patch_login"]:
        e.add(
            "POST",
            f"{nevis_auth}/u{n}/otp/login",
            _json({"challenge": name, "password": answer}),
            **auth,
            **json_headers,
        )

    e = endpoint("store page GET", "store", "page", cycle=True)
    e.add("GET", store_page)
    e = endpoint("store code request", "store", "write", expect=(302,))
    for n in code_pools["room"]:
        e.add("POST", f"{store_page}code/", urlencode({"csrfmiddlewaretoken": CSRF_TOKEN, "email": email(n)}), **form)
    e = endpoint("store code verify", "store", "write", expect=(302,))
    for n, key in session_keys:
        body = urlencode({"csrfmiddlewaretoken": CSRF_TOKEN, "code": right[n, "STORE_LOGIN"]})
        e.add("POST", f"{store_page}verify/", body, **{**form, "Cookie": f"csrftoken={CSRF_TOKEN}; sessionid={key}"})
    return endpoints


def floor_endpoint(ids: BulkIds, scale: Scale) -> Endpoint:
    floor = Endpoint("floor", "bench", "floor", (200,), cycle=True)
    rng = random.Random(11)
    for n in rng.sample(range(1, scale.people + 1), min(scale.people, 5000)):
        floor.add("GET", f"/bench/floor/{ids.people + n}/")
    return floor


def write_requests(endpoint: Endpoint, directory: Path) -> Path:
    path = directory / (quote(endpoint.name.replace(" ", "-"), safe="-") + ".txt")
    path.write_text("\n".join(endpoint.lines) + "\n")
    return path
