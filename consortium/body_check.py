"""Checking a host's event body before it is signed, in the host's own thread.

A body is signed by the participant's actor (which holds the sequence counter); an integer
outside msgpack's range (say ``amount=2**70``) or a value of a type msgspec cannot encode would
otherwise fail there, where the only witness is a log line. Here it raises ``InvalidBody`` from
``submit`` itself, naming the field, and the handle stays usable. Values inside the encodable
range but outside what the rules accept are the rules' business: those get a typed rejection.
"""

from __future__ import annotations

import msgspec

from consortium.events.body import EventBody
from consortium.events.codec import encode
from consortium.events.errors import ConsortiumError

_ENCODING_ERRORS = (OverflowError, TypeError, ValueError, msgspec.EncodeError)


class InvalidBody(ConsortiumError, ValueError):
    """The event body cannot be encoded; nothing was signed or submitted."""


def check_encodable(body: EventBody) -> None:
    """Raise ``InvalidBody`` naming the first field of ``body`` that cannot be encoded."""
    if not isinstance(body, EventBody):
        raise InvalidBody(
            f"submit takes an event body (a Struct of consortium.events), not {type(body).__name__}"
        )
    try:
        encode(body)
    except _ENCODING_ERRORS as exc:
        path, reason = _first_unencodable(body, type(body).__name__, exc)
        raise InvalidBody(f"{path} cannot be encoded: {reason}; nothing was submitted") from None


def _first_unencodable(value: object, path: str, error: Exception) -> tuple[str, str]:
    """Walk into structs and sequences to the innermost value that fails to encode."""
    children: list[tuple[str, object]] = []
    if isinstance(value, msgspec.Struct):
        children = [(f"{path}.{name}", getattr(value, name)) for name in value.__struct_fields__]
    elif isinstance(value, list | tuple):
        children = [(f"{path}[{i}]", item) for i, item in enumerate(value)]
    for child_path, child in children:
        try:
            encode(child)
        except _ENCODING_ERRORS as exc:
            return _first_unencodable(child, child_path, exc)
    return path, f"{error} (value {_short(value)})"


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
