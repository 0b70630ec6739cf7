"""The rules tests' ``Ledger`` interface, carried out by a real 4-validator consortium.

Each ``run`` submits the envelopes through a participant actor to validator 0 (intake checks,
mempool, gossip, consensus among four validator actors, commit to LMDB) and returns the
receipts' results, with ledger time set by a shared clock the test controls. The same workflow
scenarios thus run end to end; ``rebuilt_state`` reopens every log from disk to show the
projections come back equal.
"""

from __future__ import annotations

from pathlib import Path

from consortium.api import Consortium
from consortium.events.body import EventBody
from consortium.events.genesis import Genesis
from consortium.events.identity import Identity
from consortium.events.payments import Transfer
from consortium.events.results import Code, EventResult
from consortium.rules.state import State
from tests.consortium_fixtures import FAST
from tests.ledger_fixtures import VALIDATORS, sign_as

RECEIPT_WAIT_S = 20
TICK = Identity.from_seed("tick", b"actor-ledger/tick")


class ActorLedger:
    def __init__(self, path: Path, genesis: Genesis) -> None:
        self.genesis = genesis
        self.path = path
        self.seqs: dict[bytes, int] = {}
        self.now = genesis.genesis_time_ms
        self.consortium = self._open()
        self._submitter = self.consortium.participant(VALIDATORS[0], validator=0)

    def _open(self) -> Consortium:
        return Consortium(self.genesis, self.path, VALIDATORS, FAST, clock=lambda: self.now)

    def sign(self, who: Identity, body: EventBody, seq: int | None = None) -> bytes:
        return sign_as(self.seqs, self.genesis.chain_id, who, body, seq)

    def run(self, *envelopes: bytes, time_ms: int | None = None) -> list[EventResult]:
        self.now = time_ms if time_ms is not None else self.now + 1
        if not envelopes:
            self._tick()
            return []
        futures = [self._submitter.submit_signed(e) for e in envelopes]
        return [f.result(RECEIPT_WAIT_S).result for f in futures]

    def _tick(self) -> None:
        """A block at the current time, so block hooks (deadlines) run now: an idle consortium
        makes an empty block when something falls due, but on its own timer, so an unregistered
        key submits an event the rules refuse."""
        body = Transfer(token="tick", to=TICK.public_key, amount=1)
        receipt = self._submitter.submit_signed(self.sign(TICK, body)).result(RECEIPT_WAIT_S)
        assert receipt.result.code is Code.UNKNOWN_AUTHOR

    @property
    def state(self) -> State:
        state: State = self.consortium.inspect(lambda node: node.state, 0)
        return state

    def digests(self) -> set[bytes]:
        return {self.consortium.state_digest(i) for i in range(self.consortium.size)}

    def reopen(self) -> None:
        """Stop every validator and start them again from their logs on disk."""
        self.consortium.stop()
        self.consortium = self._open()
        self._submitter = self.consortium.participant(VALIDATORS[0], validator=0)

    def stop(self) -> None:
        self.consortium.stop()
