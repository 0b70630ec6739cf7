"""The host contract: what every consortium facade offers a host application, written down once.

``Consortium`` (validators in this process) and ``RemoteConsortium`` (a validator in another
process, reached over CurveZMQ) both implement ``ConsortiumFacade``, and their participant
handles both implement ``ParticipantFacade``, so host code written against these protocols runs
unchanged in either mode. ``tests/test_host_contract.py`` runs one test suite against both, and
mypy checks below that each class satisfies its protocol.

Everything a facade returns is in ledger terms: receipts (``ReceiptFuture``), block headers,
projection rows. A method that cannot do its work raises a ``ConsortiumError``: after ``stop()``,
``ConsortiumStopped``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, Self

from consortium.actors.receipts import ReceiptFuture
from consortium.events.block import BlockHeader
from consortium.events.body import EventBody
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.ledger.queries import NodeStatus
from consortium.rules.tables import Account, Order, Settlement
from consortium.subscriptions import BlockNotice, Subscription


class ParticipantFacade(Protocol):
    """A party's way to sign and submit events; the key never leaves the host."""

    identity: Identity
    chain_id: str

    @property
    def public_key(self) -> bytes: ...

    def submit(self, body: EventBody) -> ReceiptFuture:
        """Sign ``body`` (author and next sequence number filled in) and submit it. A body that
        cannot be encoded raises ``InvalidBody`` here, in the caller's thread."""
        ...

    def submit_with(self, body: EventBody, *cosigners: Self) -> ReceiptFuture:
        """Sign ``body``, have each co-signer sign the same bytes, then submit."""
        ...

    def sign(self, body: EventBody) -> bytes:
        """The signed envelope, not submitted: to pass to co-signers first."""
        ...

    def cosign(self, envelope: bytes) -> bytes:
        """Another party's envelope with this participant's signature added."""
        ...

    def submit_signed(self, envelope: bytes) -> ReceiptFuture:
        """Submit an envelope signed elsewhere (resubmitting one returns its first outcome)."""
        ...


class ConsortiumFacade(Protocol):
    """A host's view of the ledger: participants, the projections, committed blocks."""

    genesis: Genesis

    @property
    def size(self) -> int:
        """The number of validators in the genesis."""
        ...

    def participant(
        self, identity: Identity, validator: int | None = None
    ) -> ParticipantFacade: ...

    def subscribe(
        self,
        callback: Callable[[BlockNotice], None],
        *,
        validator: int | None = None,
        on_error: Callable[[Exception], None] | None = None,
        capacity: int = 10_000,
    ) -> Subscription: ...

    def subscribe_async(
        self, *, validator: int | None = None, capacity: int = 10_000
    ) -> Subscription: ...

    def height(self, validator: int | None = None) -> int: ...

    def head(self, validator: int | None = None) -> BlockHeader | None: ...

    def state_digest(self, validator: int | None = None) -> bytes: ...

    def nonce(self, key: bytes, validator: int | None = None) -> int:
        """The last sequence number the ledger has seen of ``key``."""
        ...

    def balance(self, owner: bytes, token: str, validator: int | None = None) -> int: ...

    def accounts(self, validator: int | None = None) -> list[Account]: ...

    def orders(self, validator: int | None = None) -> list[tuple[bytes, Order]]: ...

    def settlements(self, validator: int | None = None) -> list[tuple[bytes, Settlement]]: ...

    def status(self, validator: int | None = None) -> NodeStatus:
        """What the validator is doing: height, round, mempool, last commit, peers heard."""

    def stop(self) -> None:
        """Stop; safe to call twice. Every later call raises ``ConsortiumStopped``."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


if TYPE_CHECKING:
    from consortium.api import Consortium, ParticipantHandle
    from consortium.remote import RemoteConsortium, RemoteParticipantHandle

    def _embedded(
        c: Consortium, p: ParticipantHandle
    ) -> tuple[ConsortiumFacade, ParticipantFacade]:
        return c, p

    def _remote(
        c: RemoteConsortium, p: RemoteParticipantHandle
    ) -> tuple[ConsortiumFacade, ParticipantFacade]:
        return c, p
