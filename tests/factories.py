import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from otpusers import services
from otpusers.audit import Actor
from otpusers.models import ApiKey, AppAccess, Organization, OtpUser, PublishedApplication, Store


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"staff{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    is_staff = True
    password = factory.django.Password("correct horse battery staple")


class OrganizationFactory(DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class StoreFactory(DjangoModelFactory):
    class Meta:
        model = Store

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Store {n}")
    slug = factory.Sequence(lambda n: f"store-{n}")


class PublishedApplicationFactory(DjangoModelFactory):
    class Meta:
        model = PublishedApplication

    store = factory.SubFactory(StoreFactory)
    name = factory.Sequence(lambda n: f"App {n}")
    slug = factory.Sequence(lambda n: f"app-{n}")


class OtpUserFactory(DjangoModelFactory):
    class Meta:
        model = OtpUser

    organization = factory.SubFactory(OrganizationFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.com")


class AppAccessFactory(DjangoModelFactory):
    class Meta:
        model = AppAccess

    published_application = factory.SubFactory(PublishedApplicationFactory)
    otp_user = factory.SubFactory(
        OtpUserFactory, organization=factory.SelfAttribute("..published_application.store.organization")
    )
    allowed_downloads_num = 3


def make_api_key(organization: Organization, *permissions: str, **kwargs) -> tuple[ApiKey, str]:
    """A key made the way the admin makes one; returns it with its Bearer token."""
    api_key, secret = services.api_key_create(
        organization=organization,
        name=kwargs.pop("name", "test key"),
        permissions=list(permissions),
        actor=Actor.system("tests"),
        **kwargs,
    )
    return api_key, services.api_key_token(api_key, secret)
