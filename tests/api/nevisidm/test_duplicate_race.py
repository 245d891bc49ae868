"""Issue 10, finding 11: every loser of a race to create a card with one extId answers 422
errors.duplicateValue, whether it lost on the check, on model validation or on the database constraint."""

from collections import Counter

import pytest
from rest_framework.test import APIClient

from credentials.models import OtpCard
from tests.concurrency import run_in_parallel
from tests.factories import OtpUserFactory, make_api_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def test_every_loser_of_a_duplicate_ext_id_race_answers_422():
    first = OtpUserFactory(ext_id="user-a", organization__ext_id="client-race")
    second = OtpUserFactory(ext_id="user-b", organization=first.organization)
    _, token = make_api_key(
        first.organization,
        "AccessControl.CredentialCreate",
        "AccessControl.CredentialView",
        "AccessControl.PolicyConfigurationView",
    )
    people = [first, second] * 5  # the same person's creates wait on its row lock, the other's do not
    turns = iter(people)  # each thread takes the next person (a list iterator's next() is atomic)

    def create():
        person = next(turns)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        url = f"/nevisidm/api/core/v1/client-race/users/{person.ext_id}/otp-credentials"
        response = client.post(url, {"extId": "same-card"}, format="json")
        return response.status_code, [item["code"] for item in response.json().get("errors", [])]

    results = run_in_parallel(create, count=len(people))
    assert Counter(status for status, _ in results) == {201: 1, 422: len(people) - 1}, results
    assert all(codes == ["errors.duplicateValue"] for status, codes in results if status == 422), results
    assert OtpCard.objects.filter(ext_id="same-card").count() == 1
