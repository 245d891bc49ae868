"""The project's settings plus the bench's URLconf (the floor endpoint). Production never loads this module."""

from otpsite.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
