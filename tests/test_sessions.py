"""otpsite.sessions: Django's database sessions, whose new key on sign-in costs no statement of its own."""

import pytest
from django.contrib.sessions.models import Session

from otpsite import sessions
from otpsite.sessions import SessionStore
from tests.statements import at_most

pytestmark = pytest.mark.django_db


def stored_session(**data) -> SessionStore:
    session = SessionStore()
    session.update(data)
    session.save()
    return session


def test_the_row_moves_to_the_new_key_with_the_new_data_in_one_statement():
    session = stored_session(step="code", access_id=7)
    old = session.session_key
    with at_most(0, "a new session key"):
        session.cycle_key()
    session["signed_in"] = True
    with at_most(1, "saving the session under its new key"):
        session.save()
    assert session.session_key != old and len(session.session_key) == 32
    assert not Session.objects.filter(session_key=old).exists()
    assert SessionStore(session_key=session.session_key).load() == {"step": "code", "access_id": 7, "signed_in": True}


def test_until_saved_the_old_key_keeps_the_old_data_only():
    session = stored_session(step="code")
    old = session.session_key
    session.cycle_key()
    session["signed_in"] = True
    assert SessionStore(session_key=old).load() == {"step": "code"}


def test_a_key_already_taken_is_drawn_again(monkeypatch):
    taken = stored_session(other="visitor").session_key
    session = stored_session(step="code")
    drawn = iter([taken, "f" * 32])
    monkeypatch.setattr(sessions, "get_random_string", lambda length, characters: next(drawn))
    session.cycle_key()
    session.save()
    assert session.session_key == "f" * 32
    assert SessionStore(session_key=taken).load() == {"other": "visitor"}  # the other visitor's is untouched
    assert SessionStore(session_key="f" * 32).load() == {"step": "code"}


def test_a_session_whose_row_has_gone_is_stored_anew():
    session = stored_session(step="code")
    session.cycle_key()
    Session.objects.all().delete()
    session.save()
    assert SessionStore(session_key=session.session_key).load() == {"step": "code"}


def test_flushing_after_a_new_key_removes_the_old_row_too():
    session = stored_session(step="code")
    old = session.session_key
    session.cycle_key()
    session.flush()
    assert not Session.objects.filter(session_key=old).exists()


def test_a_session_never_stored_gets_a_key_the_usual_way():
    session = SessionStore()
    session["step"] = "email"
    session.cycle_key()
    assert Session.objects.filter(session_key=session.session_key).exists()
