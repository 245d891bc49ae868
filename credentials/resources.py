"""Exports of issued codes and cards: the fields named here only, so never a code, digest or grid."""

from import_export import fields

from credentials.models import IssuedCode, OtpCard
from otpusers.resources import ScopedResource


class IssuedCodeResource(ScopedResource):
    organization = fields.Field(attribute="organization__slug", column_name="organization")
    status = fields.Field(attribute="status", column_name="status", readonly=True)

    class Meta:
        model = IssuedCode
        fields = (
            "public_id",
            "organization",
            "identifier_type",
            "identifier_value",
            "scope",
            "source",
            "account_id",
            "channels",
            "status",
            "attempts",
            "max_attempts",
            "valid_until",
            "consumed_at",
            "superseded_at",
            "locked_at",
            "revoked_at",
            "send_count",
            "last_sent_at",
            "delivery_status",
            "delivery_error",
            "created_at",
        )
        export_order = fields


class OtpCardResource(ScopedResource):
    organization = fields.Field(attribute="organization__slug", column_name="organization")
    person = fields.Field(attribute="otp_user", column_name="person")
    policy = fields.Field(attribute="policy__ext_id", column_name="policy")

    class Meta:
        model = OtpCard
        fields = (
            "public_id",
            "ext_id",
            "organization",
            "person",
            "policy",
            "state",
            "state_change_reason",
            "state_change_detail",
            "cells_remaining",
            "successful_login_count",
            "failed_login_count",
            "last_successful_login_at",
            "last_failed_login_at",
            "valid_from",
            "valid_to",
            "created_at",
            "updated_at",
        )
        export_order = fields
