import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from otpusers import services
from otpusers.audit import Actor
from otpusers.models import ApiKey, AppAccess, AuditEvent, OtpUser
from tests.concurrency import run_in_parallel
from tests.factories import AppAccessFactory, OrganizationFactory, PublishedApplicationFactory, make_api_key

ACTOR = Actor.system("tests")


@pytest.mark.django_db
class TestAppAccessCreate:
    def test_refuses_a_person_of_another_organization(self):
        application = PublishedApplicationFactory()
        stranger = OtpUser.objects.create(organization=OrganizationFactory(), email="s@example.com")
        with pytest.raises(ValidationError) as error:
            services.app_access_create(
                published_application=application, otp_user=stranger, allowed_downloads_num=1, actor=ACTOR
            )
        assert "otp_user" in error.value.message_dict
        assert not AppAccess.objects.exists()

    @pytest.mark.parametrize("allowed", [-2, 9_007_199_254_740_992])
    def test_the_allowance_range_is_enforced(self, allowed):
        application = PublishedApplicationFactory()
        person = OtpUser.objects.create(organization=application.store.organization, email="p@example.com")
        with pytest.raises(ValidationError):
            services.app_access_create(
                published_application=application, otp_user=person, allowed_downloads_num=allowed, actor=ACTOR
            )

    def test_emails_match_people_case_insensitively(self):
        application = PublishedApplicationFactory()
        services.app_access_create_for_emails(
            published_application=application,
            emails=["Mixed@Example.com"],
            allowed_downloads_num=1,
            actor=ACTOR,
        )
        other = PublishedApplicationFactory(store=application.store)
        services.app_access_create_for_emails(
            published_application=other, emails=["mixed@example.com"], allowed_downloads_num=1, actor=ACTOR
        )
        assert OtpUser.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_parallel_creates_of_one_access_make_exactly_one():
    application = PublishedApplicationFactory()

    def create():
        return services.app_access_create_for_emails(
            published_application=application,
            emails=["race@example.com"],
            allowed_downloads_num=1,
            actor=ACTOR,
        )

    results = run_in_parallel(create, count=10)
    assert sum(isinstance(result, list) for result in results) == 1
    assert sum(isinstance(result, ValidationError) for result in results) == 9
    assert AppAccess.objects.filter(published_application=application).count() == 1
    assert OtpUser.objects.filter(email="race@example.com").count() == 1


@pytest.mark.django_db
class TestAppAccessUpdateAndDelete:
    def test_update_records_before_and_after(self):
        access = AppAccessFactory(allowed_downloads_num=4)
        services.app_access_update(access=access, allowed_downloads_num=0, actor=ACTOR)
        access.refresh_from_db()
        assert access.allowed_downloads_num == 0
        assert AuditEvent.objects.get(action="app_access.update").detail == {"allowed_downloads_num": [4, 0]}

    def test_an_update_over_a_change_made_since_the_read_records_the_value_it_replaced(self):
        access = AppAccessFactory(allowed_downloads_num=4)
        AppAccess.objects.filter(pk=access.pk).update(allowed_downloads_num=7)  # another writer, after our read
        services.app_access_update(access=access, allowed_downloads_num=0, actor=ACTOR)
        access.refresh_from_db()
        assert access.allowed_downloads_num == 0
        events = AuditEvent.objects.filter(action="app_access.update")
        assert [event.detail for event in events] == [{"allowed_downloads_num": [7, 0]}]

    def test_an_allowance_out_of_range_is_refused_and_changes_nothing(self):
        access = AppAccessFactory(allowed_downloads_num=4)
        with pytest.raises(ValidationError):
            services.app_access_update(access=access, allowed_downloads_num=-2, actor=ACTOR)
        access.refresh_from_db()
        assert access.allowed_downloads_num == 4 and not AuditEvent.objects.filter(action="app_access.update")

    def test_delete_records_who_lost_access(self):
        access = AppAccessFactory()
        services.app_access_delete(access=access, actor=ACTOR)
        event = AuditEvent.objects.get(action="app_access.delete")
        assert event.detail["email"] == access.otp_user.email
        assert event.object_id == access.public_id


@pytest.mark.django_db
class TestApiKeys:
    def test_the_secret_is_kept_only_as_digests(self):
        api_key, token = make_api_key(OrganizationFactory(), "mad.store.otpUsers.get")
        secret = token.split(".", 1)[1]
        stored = ApiKey.objects.filter(pk=api_key.pk).values().get()
        assert all(secret not in str(value) for value in stored.values())
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key

    def test_unknown_permission_names_are_refused(self):
        with pytest.raises(ValidationError):
            make_api_key(OrganizationFactory(), "mad.store.otpUsers.everything")

    @pytest.mark.parametrize(
        ("key_id", "secret"), [("", ""), ("0123456789abcdef", "x"), ("short", "x"), ("0123456789abcdef", "")]
    )
    def test_wrong_credentials_find_nothing(self, key_id, secret):
        make_api_key(OrganizationFactory())
        assert services.api_key_authenticate(key_id=key_id, secret=secret) is None

    def test_failed_uses_of_a_real_key_are_audited(self):
        api_key, token = make_api_key(OrganizationFactory())
        secret = token.split(".", 1)[1]
        services.api_key_authenticate(key_id=api_key.key_id, secret="not-the-secret")
        services.api_key_authenticate(key_id="0123456789abcdef", secret="unknown key id: not audited")
        services.api_key_revoke(api_key=api_key, actor=ACTOR)
        services.api_key_authenticate(key_id=api_key.key_id, secret=secret)
        reasons = (
            AuditEvent.objects.filter(action="api_key.authenticate").order_by("id").values_list("reason", flat=True)
        )
        assert list(reasons) == ["wrong_secret", "revoked"]
        assert AuditEvent.objects.filter(action="api_key.authenticate", api_key=api_key, outcome="failure").count() == 2

    def test_rotation_retires_the_old_secret(self):
        api_key, token = make_api_key(OrganizationFactory())
        new_secret = services.api_key_rotate(api_key=api_key, actor=ACTOR)
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=token.split(".", 1)[1]) is None
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=new_secret) == api_key

    def test_last_use_is_written_at_most_once_a_minute(self, clock):
        api_key, token = make_api_key(OrganizationFactory())
        secret = token.split(".", 1)[1]
        services.api_key_authenticate(key_id=api_key.key_id, secret=secret)
        first = ApiKey.objects.get(pk=api_key.pk).last_used_at
        clock.advance(seconds=30)
        services.api_key_authenticate(key_id=api_key.key_id, secret=secret)
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == first
        clock.advance(seconds=31)
        services.api_key_authenticate(key_id=api_key.key_id, secret=secret)
        assert ApiKey.objects.get(pk=api_key.pk).last_used_at == clock.now > first

    def test_a_remembered_key_runs_no_sql_and_is_still_checked(self, clock, django_assert_num_queries):
        api_key, token = make_api_key(OrganizationFactory())
        secret = token.split(".", 1)[1]
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
        with django_assert_num_queries(0):
            assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
        with django_assert_num_queries(2):  # the key read again (rotated elsewhere?), then the audit
            assert services.api_key_authenticate(key_id=api_key.key_id, secret="wrong") is None

    def test_a_secret_rotated_elsewhere_works_at_once(self, clock):
        api_key, token = make_api_key(OrganizationFactory())
        services.api_key_authenticate(key_id=api_key.key_id, secret=token.split(".", 1)[1])
        remembered = dict(services._api_key_cache)
        new_secret = services.api_key_rotate(api_key=ApiKey.objects.get(pk=api_key.pk), actor=ACTOR)
        services._api_key_cache.update(remembered)  # as another process still remembers it
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=new_secret) == api_key

    def test_a_revocation_elsewhere_takes_effect_within_the_cache_lifetime(self, clock, settings):
        settings.OTPSITE_API_KEY_CACHE_SECONDS = 5
        api_key, token = make_api_key(OrganizationFactory())
        secret = token.split(".", 1)[1]
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
        # Another process revokes the key: this one still remembers it, for at most the cache lifetime.
        ApiKey.objects.filter(pk=api_key.pk).update(revoked_at=clock.now)
        clock.advance(seconds=4)
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
        clock.advance(seconds=1)
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) is None

    def test_a_revocation_here_takes_effect_at_once(self):
        api_key, token = make_api_key(OrganizationFactory())
        secret = token.split(".", 1)[1]
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
        services.api_key_revoke(api_key=ApiKey.objects.get(pk=api_key.pk), actor=ACTOR)
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) is None

    def test_an_expiry_is_checked_on_every_request(self, clock):
        api_key, token = make_api_key(OrganizationFactory(), expires_at=clock.now + timezone.timedelta(seconds=2))
        secret = token.split(".", 1)[1]
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
        clock.advance(seconds=2)
        assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) is None

    def test_no_cache_when_its_lifetime_is_zero(self, settings, django_assert_num_queries):
        settings.OTPSITE_API_KEY_CACHE_SECONDS = 0
        api_key, token = make_api_key(OrganizationFactory())
        secret = token.split(".", 1)[1]
        services.api_key_authenticate(key_id=api_key.key_id, secret=secret)
        with django_assert_num_queries(1):
            assert services.api_key_authenticate(key_id=api_key.key_id, secret=secret) == api_key
