"""What a running validator shows of itself beyond its log: for status queries, metrics, health.

The validator loop knows things the ledger node does not (the round being decided, which peers
it hears from, when it last committed in this run); it publishes them as a ``Liveness`` on its
node, so the "status" query and the metrics endpoint read them where they read the rest. Every
member is a plain attribute read or a length, safe from any thread and free for the validator.
"""

from __future__ import annotations

from typing import Protocol


class Liveness(Protocol):
    @property
    def height(self) -> int:
        """Height of the last committed block."""

    @property
    def round(self) -> int:
        """Round of the height being decided."""

    @property
    def mempool_size(self) -> int:
        """Events waiting for a block."""

    @property
    def quorum_peers(self) -> int:
        """Peers a validator must hear from to make progress: the quorum, less itself."""

    def peers_heard(self) -> int:
        """Peers heard from lately (every validator announces its height every second)."""

    def last_commit_age_s(self) -> float | None:
        """Seconds since this validator last committed a block in this run; None if it has
        not."""
