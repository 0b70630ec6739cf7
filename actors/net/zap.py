"""The ZAP handler's decision: which Curve keys may connect, and as whom.

libzmq asks a ZAP handler (RFC 27) about every incoming Curve handshake; the handler answers
with a user id that libzmq then attaches to every message of that connection (``User-Id``).
The user id is how a receiver knows, without trusting the message, who sent it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"

Authorise = Callable[[bytes], str | None]
"""Raw 32-byte client Curve key -> user id, or None to refuse."""


def zap_reply(request: Sequence[bytes], authorise: Authorise) -> tuple[list[bytes], str | None]:
    """The reply frames for one ZAP request, and the user id granted (None when refused).

    Request: version, request id, domain, address, identity, mechanism, credentials...
    """
    if len(request) < 6 or request[0] != ZAP_VERSION:
        request_id = request[1] if len(request) > 1 else b""
        return [ZAP_VERSION, request_id, b"500", b"bad request", b"", b""], None
    request_id, mechanism, credentials = request[1], request[5], request[6:]
    user = None
    if mechanism == b"CURVE" and len(credentials) == 1 and len(credentials[0]) == 32:
        user = authorise(credentials[0])
    if user is None:
        return [ZAP_VERSION, request_id, b"400", b"not a known key", b"", b""], None
    return [ZAP_VERSION, request_id, b"200", b"OK", user.encode(), b""], user
