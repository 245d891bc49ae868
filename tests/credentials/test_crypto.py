import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from credentials import crypto
from credentials.models import IssuedCode
from tests.credentials.helpers import issue, person_in

KEY_A = "a:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE"
KEY_B = "b:" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI"


def test_seal_round_trips_and_is_bound_to_its_row():
    sealed = crypto.seal("493021", associated_data="row-1")
    assert "493021" not in sealed
    assert crypto.unseal(sealed, associated_data="row-1") == "493021"
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(sealed, associated_data="row-2")


def test_a_changed_value_does_not_decrypt():
    sealed = crypto.seal("493021", associated_data="row-1")
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(crypto.DecryptionError):
        crypto.unseal(tampered, associated_data="row-1")


@override_settings(OTPSITE_ENCRYPTION_KEYS=["nokey"])
def test_malformed_keys_fail_loudly():
    with pytest.raises(ImproperlyConfigured):
        crypto.seal("x", associated_data="y")


@pytest.mark.django_db
def test_rotate_keys_reseals_what_the_old_key_protected(capsys):
    person = person_in(code_read_back_allowed=True)
    with override_settings(OTPSITE_ENCRYPTION_KEYS=[KEY_A]):
        old = issue(person)
        sealed_under_a = IssuedCode.objects.get(pk=old.code.pk).code_sealed
        assert crypto.key_id_of(sealed_under_a) == "a"
        plaintext = crypto.unseal(sealed_under_a, associated_data=old.code.public_id)

    with override_settings(OTPSITE_ENCRYPTION_KEYS=[KEY_B, KEY_A]):
        call_command("rotate_keys")
        assert "Re-encrypted 1 issued codes, 0 OTP card grids under key 'b'" in capsys.readouterr().out
        resealed = IssuedCode.objects.get(pk=old.code.pk).code_sealed
        assert crypto.key_id_of(resealed) == "b"

    # The old key can go: the code still reads back under the new one alone.
    with override_settings(OTPSITE_ENCRYPTION_KEYS=[KEY_B]):
        assert crypto.unseal(resealed, associated_data=old.code.public_id) == plaintext
