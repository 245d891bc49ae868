"""Writes on credentials, shared by the admin, the API surfaces and the store page."""

from credentials.services.issued_codes import *  # noqa: F403
from credentials.services.issued_codes import __all__ as _issued_codes
from credentials.services.otp_cards import *  # noqa: F403
from credentials.services.otp_cards import __all__ as _otp_cards
from credentials.services.rotation import *  # noqa: F403
from credentials.services.rotation import __all__ as _rotation
from credentials.services.store_sign_in import *  # noqa: F403
from credentials.services.store_sign_in import __all__ as _store_sign_in

__all__ = [*_issued_codes, *_otp_cards, *_rotation, *_store_sign_in]
