"""Encryption at rest for what must be read back (issued codes, card grids): AES-256-GCM with a key id.

OTPSITE_ENCRYPTION_KEYS lists `id:base64key` pairs, the first being the key new data is encrypted with;
the others only decrypt, until `manage.py rotate_keys` has re-encrypted what they protect. A sealed value
is `<key id>:<base64url(nonce + ciphertext)>`, and the caller's associated data (the row's public id)
binds it to its row: a value copied to another row does not decrypt.
"""

import base64
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NONCE_BYTES = 12


class DecryptionError(Exception):
    """The value was sealed under an unknown key, or was changed, or belongs to another row."""


@lru_cache(maxsize=8)
def _parse_keys(raw: tuple[str, ...]) -> tuple[str, dict[str, AESGCM]]:
    keys: dict[str, AESGCM] = {}
    for entry in raw:
        key_id, _, encoded = entry.partition(":")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            key = b""
        if not key_id or len(key) != 32:
            raise ImproperlyConfigured("Each OTPSITE_ENCRYPTION_KEYS entry must be '<id>:<base64 of 32 random bytes>'.")
        keys[key_id] = AESGCM(key)
    if not keys:
        raise ImproperlyConfigured("OTPSITE_ENCRYPTION_KEYS must name at least one key.")
    return raw[0].partition(":")[0], keys


def _keys() -> tuple[str, dict[str, AESGCM]]:
    return _parse_keys(tuple(settings.OTPSITE_ENCRYPTION_KEYS))


def current_key_id() -> str:
    return _keys()[0]


def seal(plaintext: str, *, associated_data: str) -> str:
    key_id, keys = _keys()
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = keys[key_id].encrypt(nonce, plaintext.encode(), associated_data.encode())
    return f"{key_id}:{base64.urlsafe_b64encode(nonce + ciphertext).decode().rstrip('=')}"


def unseal(sealed: str, *, associated_data: str) -> str:
    key_id, _, encoded = sealed.partition(":")
    key = _keys()[1].get(key_id)
    if key is None:
        raise DecryptionError(f"No key {key_id!r} in OTPSITE_ENCRYPTION_KEYS.")
    try:
        blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data.encode()).decode()
    except (ValueError, InvalidTag):
        raise DecryptionError("The sealed value does not decrypt with its key.") from None


def key_id_of(sealed: str) -> str:
    return sealed.partition(":")[0]
