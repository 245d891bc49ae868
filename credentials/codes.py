"""Issued-code maths: generation, keyed digests and normalization. Pure Python, no Django."""

import hashlib
import hmac
import secrets
import string

ALPHABETS = {
    "digits": string.digits,
    "alphanumeric": string.ascii_uppercase + string.digits,
}


def generate_code(length: int, alphabet: str) -> str:
    characters = ALPHABETS[alphabet]
    return "".join(secrets.choice(characters) for _ in range(length))


def normalize_code(candidate: str) -> str:
    """What a person types, as it was issued: spaces and dashes dropped, letters upper-cased."""
    return "".join(candidate.split()).replace("-", "").upper()


def code_digest(*, key: bytes, salt: str, code: str) -> str:
    """HMAC-SHA256 of the code under the server key, salted with the code's own id so that equal codes
    never share a digest."""
    return hmac.new(key, f"{salt}:{code}".encode(), hashlib.sha256).hexdigest()


def digest_matches(*, key: bytes, salt: str, code: str, expected: str) -> bool:
    return hmac.compare_digest(code_digest(key=key, salt=salt, code=code), expected)
