"""The common shape of every event body.

Every body names its author and a per-author sequence number: together with the chain id in the
signature, they make a captured event useless on another chain or a second time on this one.
"""

from __future__ import annotations

import msgspec


class EventBody(
    msgspec.Struct,
    frozen=True,
    gc=False,
    kw_only=True,
    tag_field="type",
    forbid_unknown_fields=True,
):
    """Base of the tagged union of event bodies; subclasses set ``tag=`` to a stable name."""

    author: bytes = b""  # filled in by the participant that signs it
    seq: int = 0
