import pytest
from django.db import IntegrityError

from otpusers.models import AppAccess, OtpUser
from tests.factories import AppAccessFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def test_an_email_is_unique_in_an_organization_whatever_its_case():
    organization = OrganizationFactory()
    OtpUser.objects.create(organization=organization, email="Same@example.com")
    OtpUser.objects.create(organization=OrganizationFactory(), email="same@example.com")
    with pytest.raises(IntegrityError):
        OtpUser.objects.create(organization=organization, email="same@EXAMPLE.com")


def test_the_database_refuses_an_allowance_out_of_range():
    access = AppAccessFactory()
    with pytest.raises(IntegrityError):
        AppAccess.objects.filter(pk=access.pk).update(allowed_downloads_num=-2)


def test_the_database_refuses_a_malformed_public_id():
    access = AppAccessFactory()
    with pytest.raises(IntegrityError):
        AppAccess.objects.filter(pk=access.pk).update(public_id="NOT-HEX")


def test_downloads_left():
    assert AppAccess(allowed_downloads_num=-1, downloads_used=7).downloads_left is None
    assert AppAccess(allowed_downloads_num=3, downloads_used=1).downloads_left == 2
    assert AppAccess(allowed_downloads_num=1, downloads_used=1).downloads_left == 0
