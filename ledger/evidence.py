"""Turning the double votes a validator's consensus core saw into signed ledger events.

The core only notices equivocation (it keeps the first vote and records the conflicting one);
reporting it is the validator's job, as an ordinary event authored by its own key, so the
evidence is ordered, replicated and re-verifiable like everything else. Each (validator, kind,
height, round) is reported once by this validator; other honest validators may report it too and
the rule keeps the first.
"""

from __future__ import annotations

from collections.abc import Sequence

from consortium.consensus.core import Equivocation
from consortium.events.envelope import seal
from consortium.events.identity import Identity
from consortium.events.validators import DoubleVote
from consortium.events.wire import decode_vote
from consortium.rules.state import StateView
from consortium.rules.validators import evidence_key


class EvidenceReporter:
    def __init__(self, identity: Identity, chain_id: str) -> None:
        self._identity = identity
        self._chain_id = chain_id
        self._looked_at = 0
        self._reported: set[bytes] = set()
        self._last_seq = 0

    def new_reports(self, evidence: Sequence[Equivocation], state: StateView) -> list[bytes]:
        """Envelopes for the equivocations added to ``evidence`` since the last call.

        Sequence numbers continue from the larger of the committed nonce (after a restart) and
        the last one this reporter used (reports not yet committed).
        """
        fresh = evidence[self._looked_at :]
        self._looked_at = len(evidence)
        envelopes = []
        for found in fresh:
            key = evidence_key(decode_vote(found.first.body))
            if key in self._reported:
                continue
            self._reported.add(key)
            committed: int = state.get("nonces", self._identity.public_key) or 0
            self._last_seq = max(self._last_seq, committed) + 1
            body = DoubleVote(
                author=self._identity.public_key,
                seq=self._last_seq,
                first_vote=found.first.body,
                first_signature=found.first.signature,
                second_vote=found.second.body,
                second_signature=found.second.signature,
            )
            envelopes.append(seal(body, self._chain_id, [self._identity]))
        return envelopes
