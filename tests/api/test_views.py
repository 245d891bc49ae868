"""otpsite/api/views.py: what a read ahead takes from a request body."""

import json

import pytest
from django.test import RequestFactory

from otpsite.api.views import READ_AHEAD_MAX_BODY, json_object_ahead


def posted(body: bytes, content_type: str = "application/json"):
    return RequestFactory().post("/v2/otp/validate", data=body, content_type=content_type)


def test_a_small_json_object_is_read():
    assert json_object_ahead(posted(b'{"entityType": "MOBILE", "n": 1}')) == {"entityType": "MOBILE", "n": 1}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"entityType": "MOBILE"}', "application/x-protobuf"),  # another encoding: the action's parser decides
        (b'{"entityType": ', "application/json"),  # malformed
        (b'["MOBILE"]', "application/json"),  # not an object
        (json.dumps({"entityValue": "\ud800"}).encode(), "application/json"),  # a lone surrogate
        (json.dumps({"entityValue": "a\x00b"}).encode(), "application/json"),  # a NUL
        (json.dumps({"entity\ud800": "x"}).encode(), "application/json"),  # in a key
        (json.dumps({"channels": [{"value": "\ud800"}]}).encode(), "application/json"),  # nested
        (json.dumps({"entityValue": "x" * READ_AHEAD_MAX_BODY}).encode(), "application/json"),  # too large
        (b"", "application/json"),
    ],
)
def test_anything_else_is_left_to_the_action(body, content_type):
    request = posted(body, content_type)
    assert json_object_ahead(request) is None
    assert request.body == body  # still there for the action's own parser


def test_an_input_serializer_binds_copies_of_its_plain_fields_and_deep_copies_nesting_ones():
    from rest_framework import serializers

    from otpsite.api.serializers import StrictInputSerializer

    class Body(StrictInputSerializer):
        name = serializers.CharField(max_length=3)
        tags = serializers.ListField(child=serializers.CharField(max_length=2))

    first, second = Body(data={"name": "abcd", "tags": ["xyz"]}), Body(data={"name": "ab", "tags": ["x"]})
    assert not first.is_valid() and second.is_valid()
    assert set(first.errors) == {"name", "tags"} and second.validated_data == {"name": "ab", "tags": ["x"]}
    for serializer in (first, second):
        assert serializer.fields["name"].parent is serializer and serializer.fields["name"].field_name == "name"
        assert serializer.fields["tags"].child.parent is serializer.fields["tags"]
    assert first.fields["name"] is not second.fields["name"] is not Body._declared_fields["name"]
    assert Body._declared_fields["name"].parent is None
