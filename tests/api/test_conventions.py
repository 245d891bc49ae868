"""Conventions the API layer relies on, checked over every routed view."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import get_resolver

from otpusers.registry import API_PERMISSIONS


def routed_viewsets():
    seen = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
                continue
            cls = getattr(pattern.callback, "cls", None)
            actions = getattr(pattern.callback, "actions", None)
            if cls is not None and actions:
                seen.append((cls, actions))

    walk(get_resolver().url_patterns)
    return seen


def test_every_routed_action_declares_a_documented_permission_name():
    viewsets = routed_viewsets()
    assert viewsets
    for cls, actions in viewsets:
        for action in actions.values():
            names = cls.required_api_permissions.get(action)
            names = (names,) if isinstance(names, str) else names
            assert names and all(name in API_PERMISSIONS for name in names), f"{cls.__name__}.{action}: {names!r}"


def test_every_routed_viewset_has_an_error_envelope():
    for cls, _ in routed_viewsets():
        assert getattr(cls, "error_envelope", None) is not None, cls.__name__


@pytest.mark.django_db
def test_every_mapped_django_permission_exists():
    for permission in API_PERMISSIONS.values():
        app_label, codename = permission.django_permission.split(".")
        assert Permission.objects.filter(content_type__app_label=app_label, codename=codename).exists(), permission


def test_every_routed_viewset_reads_requests_through_the_shared_checks():
    """The request checks (NUL, undecodable query strings) and Accept-only negotiation live on SurfaceViewSet."""
    from otpsite.api.views import SurfaceViewSet

    for cls, _ in routed_viewsets():
        assert issubclass(cls, SurfaceViewSet), cls.__name__
