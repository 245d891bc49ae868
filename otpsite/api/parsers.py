"""Reading request bodies for every surface, bounded: one reader that every parser uses.

A body is read up to DATA_UPLOAD_MAX_MEMORY_SIZE bytes (more answers 413), JSON may nest MAX_JSON_DEPTH
levels (deeper answers 400 before the decoder recurses), and no string in a body, key or value, may hold a
NUL (PostgreSQL text cannot store one) or a lone UTF-16 surrogate (it has no UTF-8 form, so it could be
neither stored nor echoed back in an error message). Refused bodies never reach a serializer or service.
"""

import json
import re

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 32
# A JSON string (skipped whole, so that brackets inside it do not count) or one bracket.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def body_limit() -> int:
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def read_body(stream, parser_context) -> bytes:
    """The whole body, refusing one past the limit whether or not Content-Length announced it."""
    limit = body_limit()
    request = (parser_context or {}).get("request")
    declared = request.META.get("CONTENT_LENGTH") if request is not None else None
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
    body = stream.read(limit + 1) if stream is not None else b""
    if len(body) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
    return body


def check_depth(text: str) -> None:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"The body nests deeper than {MAX_JSON_DEPTH} levels.")
        elif token in "]}":
            depth -= 1


def text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "holds a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "holds a lone UTF-16 surrogate"
    return None


def check_text(data) -> None:
    """Refuses NULs and lone surrogates in any key or string of a parsed body (depth is already bounded)."""
    if isinstance(data, str):
        problem = text_problem(data)
        if problem:
            raise ParseError(f"A string in the body {problem}.")
    elif isinstance(data, dict):
        for key, value in data.items():
            if text_problem(key):
                raise ParseError(f"A key in the body {text_problem(key)}.")
            check_text(value)
    elif isinstance(data, list):
        for value in data:
            check_text(value)


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with the bounds above."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        body = read_body(stream, parser_context)
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ParseError(f"The body is not valid {encoding} text.") from None
        check_depth(text)
        try:
            data = json.loads(text, parse_constant=_refuse_constant)
        except (ValueError, RecursionError) as error:
            raise ParseError(f"The body is not valid JSON: {error}") from None
        check_text(data)
        return data
