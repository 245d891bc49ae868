"""Signals the domain sends for other apps to act on, so that otpusers need not import them."""

from django.dispatch import Signal

# Sent after the commit that stored a new build of a published application whose OTP users are to be
# told: kwargs `published_application`, `store_page_url` and `actor`. credentials emails the people.
new_build_published = Signal()
