"""Serializer fields shared by the surfaces: strict JSON types and vendor wire formats."""

import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from otpusers.ids import normalize_public_id


class StrictIntegerField(serializers.IntegerField):
    """An integer that must arrive as a JSON integer: no strings, floats or booleans coerced into one."""

    default_error_messages = {"invalid": "Must be a JSON integer."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A string that must arrive as a JSON string: a number is not silently turned into one."""

    default_error_messages = {"invalid": "Must be a JSON string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        # The schema's maxLength bounds the string as sent; DRF would measure it after trimming whitespace.
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class DocumentedPatternCharField(StrictCharField):
    """A string whose rule the schema states as `schema_pattern` (JSON Schema's pattern: found anywhere in
    the string unless anchored); the field's validators enforce the same rule. With allow_blank the schema
    offers "" on its own, so the pattern must not match "" too."""

    def __init__(self, *, schema_pattern: str, **kwargs):
        self.schema_pattern = schema_pattern
        super().__init__(**kwargs)


class StrictBooleanField(serializers.BooleanField):
    """A boolean that must arrive as a JSON true or false: no 0, 1 or "yes" read as one."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


@extend_schema_field({"type": "string", "pattern": "^[a-fA-F0-9]{24}$", "example": "65f1c0ffee0ddba11ca7f00d"})
class PublicIdField(serializers.CharField):
    """A 24-hex id: rendered as stored, and on input checked against the pattern and lower-cased."""

    default_error_messages = {"invalid": "Must be 24 hexadecimal characters (^[a-fA-F0-9]{{24}}$)."}

    def to_internal_value(self, data):
        normalized = normalize_public_id(data)
        if normalized is None:
            self.fail("invalid")
        return normalized


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-01-31T09:30:00.000Z"})
class UtcMillisDateTimeField(serializers.DateTimeField):
    """ISO-8601 in UTC with milliseconds and `Z`, as the Node-based vendors write dates."""

    def to_representation(self, value: datetime.datetime | None):
        return utc_millis(value)


def utc_millis(value: datetime.datetime | None) -> str | None:
    """A moment as UtcMillisDateTimeField writes it."""
    if value is None:
        return None
    utc = value.astimezone(datetime.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
