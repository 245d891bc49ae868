"""Sessions in the database, as Django's `db` engine keeps them, with a cheaper new key.

Signing in (the store page's code, a staff user's password) gives the session a new key against session
fixation. Django's engine does that in three statements (is the new key free, insert the session under it,
delete the old row) and the response then writes the signed-in data in a fourth. Here the new key is drawn
at once and the row moves to it when the session is saved, in the one UPDATE that writes the data. Until
then the stored row keeps its old key and its old data, so the old key never carries the signed-in state.
A random 32-character key that is already taken fails the UPDATE, which is tried again with another.
"""

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, CreateError
from django.db import IntegrityError, router, transaction
from django.utils.crypto import get_random_string

ATTEMPTS = 3


def _new_key() -> str:
    return get_random_string(32, VALID_KEY_CHARS)


class SessionStore(db.SessionStore):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._replaces: str | None = None  # the stored key this session moves away from when saved

    def cycle_key(self):
        if self.session_key is None:
            return super().cycle_key()
        data = self._session
        self._replaces = self._replaces or self.session_key
        self._session_key = _new_key()
        self._session_cache = data
        self.modified = True
        return None

    def save(self, must_create=False):
        if self._replaces is None or must_create:
            return super().save(must_create=must_create)
        using = router.db_for_write(self.model, instance=None)
        data = self.encode(self._get_session(no_load=False))
        for _ in range(ATTEMPTS):
            try:
                with transaction.atomic(using=using):
                    moved = (
                        self.model.objects.using(using)
                        .filter(session_key=self._replaces)
                        .update(session_key=self.session_key, session_data=data, expire_date=self.get_expiry_date())
                    )
            except IntegrityError:
                self._session_key = _new_key()
                continue
            self._replaces = None
            if not moved:  # the old row has gone (expired, flushed elsewhere): store this one anew
                self._store_new()
            return None
        raise CreateError("no free session key after several draws")

    def _store_new(self) -> None:
        try:
            super().save(must_create=True)
        except CreateError:
            self._session_key = _new_key()
            super().save(must_create=True)

    def delete(self, session_key=None):
        if session_key is None and self._replaces is not None:
            super().delete(self._replaces)
            self._replaces = None
        return super().delete(session_key)
