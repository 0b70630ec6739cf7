"""What the tests of networked validators share: short timeouts, and "does it answer yet"."""

from __future__ import annotations

from consortium.remote import RemoteConsortium

FAST_LEDGER = {
    "durable": False,
    "timeout_propose_ms": 300,
    "timeout_vote_ms": 150,
    "timeout_delta_ms": 100,
}
"""The ``[ledger]`` table of every node config these tests write."""


def answers(host: RemoteConsortium) -> bool:
    """Whether the host's validator answers a query yet (it may still be starting)."""
    try:
        host.height()
    except TimeoutError:
        return False
    return True
