import base64
import io
import re

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from otpusers.models import ApiKey, AppAccess, Organization, OtpUser, PublishedApplication, Store

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", "--base-url", "http://testserver", stdout=out)
    return out.getvalue()


def counts() -> list[int]:
    return [model.objects.count() for model in (Organization, Store, PublishedApplication, OtpUser, AppAccess, ApiKey)]


def test_running_twice_duplicates_nothing_and_the_printed_curls_work():
    seed()
    first = counts()
    printed = seed()
    assert counts() == first
    assert first == [1, 1, 2, 5, 5, 1]

    token = re.search(r"Demo API key: (\S+)", printed).group(1)
    list_url = re.search(r'"(http://testserver/v1/[^"]+/otp-users)"', printed).group(1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get(list_url.removeprefix("http://testserver"))
    assert response.status_code == 200 and response.json()["data"]["totalDocs"] == 5

    workspace_paths = re.findall(r'"http://testserver(/v1/organizations/[^"]+/(?:stores|pubApps))"', printed)
    assert len(workspace_paths) == 2
    for path in workspace_paths:
        answer = client.get(path)
        assert answer.status_code == 200 and answer.json()["data"]["totalDocs"] >= 1, path

    login = re.search(r'curl -s -u "([^"]+)"', printed).group(1)
    capillary = APIClient()
    capillary.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(login.encode()).decode())
    generate = capillary.post(
        "/v2/otp/generate",
        {
            "entityType": "MOBILE",
            "entityValue": "+4915110000001",
            "action": "GENERIC",
            "channels": [{"type": "SMS", "value": "+4915110000001"}],
        },
        format="json",
    )
    assert generate.status_code == 200, generate.content

    oauth_body = re.search(r"CAP_TOKEN=\$\(curl .* -d '([^']+)' \"http://testserver/v3/oauth/token/generate\"", printed)
    token_answer = APIClient().post(
        "/v3/oauth/token/generate", data=oauth_body.group(1), content_type="application/json"
    )
    assert token_answer.status_code == 200, token_answer.content
    read_url = re.search(
        r'curl -s -H "X-CAP-API-OAUTH-TOKEN: \$CAP_TOKEN" "http://testserver(/v2/otp\?[^"]+)"', printed
    )
    oauth = APIClient()
    oauth.credentials(HTTP_X_CAP_API_OAUTH_TOKEN=token_answer.json()["data"]["accessToken"])
    read_back = oauth.get(read_url.group(1))
    assert read_back.status_code == 200 and read_back.json()["userId"] > 0, read_back.content

    manage_login = re.search(r'curl -s -u "([^"]+)" -H "Content-Type: application/json" -d \'\{"userName"', printed)
    manage = APIClient()
    manage.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(manage_login.group(1).encode()).decode())
    sent = manage.post(
        "/manage/v2/user/send/otp",
        {"userName": "ben.okafor", "phoneNumber": "+4915110000002", "channel": "sms"},
        format="json",
    )
    assert sent.status_code == 200, sent.content

    card_url = re.search(r'"(http://testserver/nevisidm/api/core/v1/[^"]+/otp-ana)"', printed).group(1)
    assert client.get(card_url.removeprefix("http://testserver")).json()["stateName"] == "active"
    x_token = re.search(r'X-Token: ([^"]+)"', printed).group(1)
    self_admin = APIClient()
    self_admin.credentials(HTTP_X_TOKEN=x_token)
    assert self_admin.get(card_url.removeprefix("http://testserver")).status_code == 200


def test_the_admin_password_printed_logs_in(client):
    printed = seed()
    password = re.search(r"user admin\s+password (\S+)", printed).group(1)
    assert client.login(username="admin", password=password)


def test_the_demo_fills_the_dashboard_once():
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from credentials.models import IssuedCode
    from otpsite import dashboard

    seed()
    codes = IssuedCode.objects.count()
    assert codes > 30 * 15
    seed()
    assert IssuedCode.objects.count() == codes
    request = RequestFactory().get("/admin/")
    request.user = get_user_model().objects.get(username="admin")
    board = dashboard.build(request)
    thirty_days = {figure.title: figure.values[2][0] for figure in board.codes}
    assert all(thirty_days[title] > 0 for title in thirty_days), thirty_days
    assert thirty_days["Codes issued"] >= codes - 100
    assert any(row["failed"][2][0] for row in board.deliveries)
    states = {title: count for title, count, _ in board.states}
    assert states["Cards temporarily locked"] == 1 and states["Cards locked after failures"] == 1
    assert board.recent
