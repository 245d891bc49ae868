"""Re-encrypting everything sealed under OTPSITE_ENCRYPTION_KEYS with its first key: issued codes kept for
read-back and OTP card grids.

Each sealed value starts with the id of the key that sealed it, so every row tells whether it is done: the
work is batched (one short transaction per batch, rows locked with SKIP LOCKED so that logins and issues go
on), and a run that stops half-way is simply run again.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models, transaction

from credentials import crypto
from credentials.models import IssuedCode, OtpCard
from credentials.services.otp_cards import card_aad


@dataclass(frozen=True)
class SealedField:
    label: str
    model: type[models.Model]
    field: str
    associated_data: Callable[[models.Model], str]


SEALED_FIELDS = (
    SealedField("issued codes", IssuedCode, "code_sealed", lambda issued: issued.public_id),
    SealedField("OTP card grids", OtpCard, "grid_sealed", card_aad),
)
# Rows locked by a login or an issue at the time are skipped and retried in another pass.
MAX_PASSES = 5


class ResealFailed(Exception):
    """A sealed value does not decrypt with any configured key (its key was dropped too early)."""


def _outdated(sealed: SealedField, current: str):
    return (
        sealed.model.objects.exclude(**{sealed.field: ""})
        .exclude(**{f"{sealed.field}__startswith": f"{current}:"})
        .order_by("pk")
    )


def _reseal_pass(sealed: SealedField, current: str, batch_size: int, progress) -> int:
    done, after = 0, 0
    while True:
        with transaction.atomic():
            batch = list(
                _outdated(sealed, current)
                .select_for_update(skip_locked=True)
                .filter(pk__gt=after)
                .only("pk", "public_id", sealed.field)[:batch_size]
            )
            for row in batch:
                try:
                    plaintext = crypto.unseal(getattr(row, sealed.field), associated_data=sealed.associated_data(row))
                except crypto.DecryptionError as error:
                    raise ResealFailed(f"{sealed.label}, row {row.pk}: {error}") from None
                setattr(row, sealed.field, crypto.seal(plaintext, associated_data=sealed.associated_data(row)))
            sealed.model.objects.bulk_update(batch, [sealed.field])
        if not batch:
            return done
        done += len(batch)
        after = batch[-1].pk
        progress(sealed.label, done, after)


def sealed_values_reseal(
    *, batch_size: int = 500, progress: Callable[[str, int, int], None] = lambda label, done, last_id: None
) -> dict[str, int]:
    """Re-encrypts every sealed value not under the current key; returns how many of each kind.

    `progress(kind, done so far, last row id)` is called after each batch. Raises ResealFailed when a value
    cannot be decrypted, having kept every batch before it."""
    current = crypto.current_key_id()
    counts = {}
    for sealed in SEALED_FIELDS:
        counts[sealed.label] = 0
        for _ in range(MAX_PASSES):
            counts[sealed.label] += _reseal_pass(sealed, current, batch_size, progress)
            if not _outdated(sealed, current).exists():
                break
    return counts


def sealed_values_outdated() -> dict[str, int]:
    """How many values of each kind are still sealed under a key other than the current one."""
    current = crypto.current_key_id()
    return {sealed.label: _outdated(sealed, current).count() for sealed in SEALED_FIELDS}


__all__ = ["ResealFailed", "sealed_values_outdated", "sealed_values_reseal"]
