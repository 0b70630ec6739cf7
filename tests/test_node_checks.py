"""A validator's checks of blocks it did not build, below the consensus core."""

from __future__ import annotations

from pathlib import Path

from consortium.events.block import Block
from consortium.events.envelope import event_id
from consortium.events.payments import IssueTokens
from consortium.ledger.node import LedgerNode, NodeSettings
from consortium.rules.rulebook import RULESET
from consortium.storage.log import EventLog
from tests.ledger_fixtures import ADMIN, ALICE, GENESIS, Ledger


def test_a_genuine_header_with_other_events_is_refused_even_when_cached(tmp_path: Path) -> None:
    """Found by the simulator: the block hash covers only the header, so a catch-up answer can
    pair the real header (and its real certificate) with other events."""
    signer = Ledger()
    envelopes = [
        signer.sign(ADMIN, IssueTokens(token="EUR", to=ALICE.public_key, amount=n))
        for n in (1, 2, 3)
    ]
    with EventLog(tmp_path, GENESIS, durable=False) as log:
        node = LedgerNode(0, GENESIS, RULESET, log, NodeSettings())
        for envelope in envelopes:
            assert node.admit(envelope, event_id(envelope)) is None
        block = node.build_block(1, 0, 0, GENESIS.genesis_time_ms + 1, False)
        assert block is not None and node.check_block(block) is None
        altered = Block(block.header, block.events[:2])
        assert altered.hash == block.hash
        assert node.check_block(altered) == "the events do not match the header's events root"
