"""The project's settings plus the bench's URLconf (the floor endpoint). Production never loads this module."""

from otpsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The client limits still count every request (their statement is part of what is measured), but wrk sends
# thousands a second with one API key from one address, and the store page's codes from one address too.
OTPSITE_API_KEY_REQUESTS_PER_MINUTE = 1_000_000_000
OTPSITE_AUTH_FAILURES_PER_IP = ((1_000_000_000, 900),)
OTPSITE_STORE_CODE_REQUESTS_PER_IP = ((1_000_000_000, 3600),)
OTPSITE_STORE_CODE_REQUESTS_PER_EMAIL = ((1_000_000_000, 900),)
