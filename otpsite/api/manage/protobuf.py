"""A DRF parser and renderer pair for `application/x-protobuf`.

The view names its request and response message classes (`protobuf_messages`). The parser decodes a body
into the request message and hands the view a dict with the JSON wire names, so one serializer validates
both encodings; the renderer encodes the view's dict (success or error envelope) into the response message.
"""

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from otpsite.api.parsers import check_text, read_body

PROTOBUF_MEDIA_TYPE = "application/x-protobuf"


def message_classes(view) -> tuple[type, type]:
    return view.get_protobuf_messages()


def to_wire_dict(message) -> dict:
    return json_format.MessageToDict(message, always_print_fields_with_no_presence=True)


class ProtobufParser(BaseParser):
    media_type = PROTOBUF_MEDIA_TYPE

    def parse(self, stream, media_type=None, parser_context=None) -> dict:
        request_class, _ = message_classes(parser_context["view"])
        message = request_class()
        try:
            message.ParseFromString(read_body(stream, parser_context))
        except DecodeError as error:
            raise ParseError(f"The body is not a valid protobuf {request_class.DESCRIPTOR.name}: {error}") from None
        data = to_wire_dict(message)
        check_text(data)
        return data


class ProtobufRenderer(BaseRenderer):
    media_type = PROTOBUF_MEDIA_TYPE
    format = "protobuf"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        _, response_class = message_classes(renderer_context["view"])
        return json_format.ParseDict(data, response_class()).SerializeToString()
