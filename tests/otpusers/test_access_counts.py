"""Each publication's access_count (the Applivery list's totalDocs) is exact whatever writes the rows: the
services, a plain ORM insert, a bulk insert without a store, a cascade, and parallel requests."""

import pytest
from django.db import connection

from otpusers import services
from otpusers.audit import Actor
from otpusers.models import AppAccess, OtpUser, PublishedApplication
from tests.concurrency import run_in_parallel
from tests.factories import AppAccessFactory, OtpUserFactory, PublishedApplicationFactory

ACTOR = Actor.system("tests")


def counted(application) -> int:
    return PublishedApplication.objects.values_list("access_count", flat=True).get(pk=application.pk)


@pytest.mark.django_db
def test_every_kind_of_write_keeps_the_count_exact():
    application = PublishedApplicationFactory()
    other = PublishedApplicationFactory(store=application.store)
    organization = application.store.organization
    services.app_access_create_for_emails(
        published_application=application,
        emails=["a@example.com", "b@example.com"],
        allowed_downloads_num=1,
        actor=ACTOR,
    )
    AppAccessFactory(published_application=application)
    people = OtpUser.objects.bulk_create(OtpUserFactory.build(organization=organization) for _ in range(3))
    # A bulk insert that names no store, as a seeding script might: the database fills it in.
    with connection.cursor() as cursor:
        for person in people:
            cursor.execute(
                "INSERT INTO otpusers_appaccess (created_at, updated_at, published_application_id, otp_user_id, "
                "public_id, allowed_downloads_num, downloads_used) VALUES (now(), now(), %s, %s, %s, 1, 0)",
                [other.pk, person.pk, f"{person.pk:024x}"],
            )
    assert counted(application) == 3 and counted(other) == 3
    assert set(AppAccess.objects.filter(published_application=other).values_list("store_id", flat=True)) == {
        application.store_id
    }
    services.app_access_delete(access=AppAccess.objects.filter(published_application=application).first(), actor=ACTOR)
    OtpUser.objects.filter(pk=people[0].pk).delete()  # cascades to their access
    AppAccess.objects.filter(published_application=other).update(published_application=application)
    assert counted(application) == 4 and counted(other) == 0
    assert counted(application) == AppAccess.objects.filter(published_application=application).count()


@pytest.mark.django_db
def test_a_stale_save_of_the_publication_does_not_write_back_its_count():
    application = PublishedApplicationFactory()
    AppAccessFactory(published_application=application)
    application.name = "Renamed"
    application.save()  # read before the access was made: its access_count is 0
    assert counted(application) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.concurrency
def test_parallel_creates_and_deletes_count_exactly():
    application = PublishedApplicationFactory()
    doomed = [AppAccessFactory(published_application=application) for _ in range(10)]

    def create(email):
        return lambda: services.app_access_create_for_emails(
            published_application=application, emails=[email], allowed_downloads_num=1, actor=ACTOR
        )

    jobs = [create(f"parallel{n}@example.com") for n in range(20)]
    jobs += [lambda access=access: services.app_access_delete(access=access, actor=ACTOR) for access in doomed]
    tasks = iter(jobs)
    results = run_in_parallel(lambda: next(tasks)(), count=len(jobs))
    assert not [result for result in results if isinstance(result, Exception)]
    assert counted(application) == AppAccess.objects.filter(published_application=application).count() == 20
