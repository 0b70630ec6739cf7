"""The whole pipeline through actors: participants, 4 validators, LMDB logs, projections."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from consortium.api import Consortium
from consortium.consensus.config import ConsensusConfig
from consortium.demo.common import identity
from consortium.events.codec import encode
from consortium.events.envelope import Envelope, Signature, decode_envelope, seal
from consortium.events.payments import RegisterParticipant, Transfer
from consortium.events.results import Code
from consortium.events.wire import SignedProposal, decode_peer_message
from consortium.storage.log import EventLog
from tests.consortium_fixtures import block_hashes, funded_users, start, wait_until


def _pay(users, rng: random.Random, count: int):
    futures = []
    for _ in range(count):
        a, b = rng.sample(range(len(users)), 2)
        transfer = Transfer(token="NORTH", to=users[b].public_key, amount=rng.randint(1, 100))
        futures.append(users[a].submit(transfer))
    return futures


def _all_equal_heights(c: Consortium) -> bool:
    return len({c.height(i) for i in c.running_validators()}) == 1


def test_thousand_payments_same_blocks_same_digests_and_after_reopen(tmp_path: Path) -> None:
    c = start(tmp_path)
    users = funded_users(c, 10)
    receipts = [f.result(30) for f in _pay(users, random.Random(1), 1000)]
    assert all(r.accepted for r in receipts)
    assert wait_until(lambda: _all_equal_heights(c))
    chains = [block_hashes(c, i) for i in range(4)]
    assert all(chain == chains[0] for chain in chains)
    digests = [c.state_digest(i) for i in range(4)]
    assert len(set(digests)) == 1
    total = sum(c.balance(u.public_key, "NORTH") for u in users)
    assert total == 10 * 1_000_000  # transfers conserve the token
    c.stop()
    reopened = start(tmp_path)
    try:
        assert [reopened.state_digest(i) for i in range(4)] == digests
        assert block_hashes(reopened, 2) == chains[0]
    finally:
        reopened.stop()


def test_every_bad_input_gets_its_typed_rejection_and_no_validator_stops(
    tmp_path: Path,
) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        chain = c.genesis.chain_id
        good = alice.sign(Transfer(token="NORTH", to=bob.public_key, amount=1))
        envelope = decode_envelope(good)
        forged = encode(Envelope(envelope.body, (Signature(alice.public_key, bytes(64)),)))
        first = alice.submit_signed(good).result(10)
        assert first.accepted
        # Submitted again, a committed envelope is answered with its outcome, not run twice.
        again = alice.submit_signed(good).result(10)
        assert (again.result, again.height) == (first.result, first.height)
        stranger = identity("nobody")
        replayed_seq = seal(
            Transfer(author=alice.public_key, seq=1, token="NORTH", to=bob.public_key, amount=2),
            chain,
            [alice.identity],
        )
        cases = {
            Code.BAD_SIGNATURE: alice.submit_signed(forged),
            Code.MALFORMED: alice.submit_signed(b"\xde\xad\xbe\xef"),
            Code.REPLAY: alice.submit_signed(replayed_seq),
            Code.INSUFFICIENT_FUNDS: bob.submit(
                Transfer(token="NORTH", to=alice.public_key, amount=10**15)
            ),
            Code.UNKNOWN_AUTHOR: c.participant(stranger).submit(
                Transfer(token="NORTH", to=alice.public_key, amount=1)
            ),
            Code.WRONG_ROLE: bob.submit(
                RegisterParticipant(participant=stranger.public_key, name="x", role="user")
            ),
        }
        for code, future in cases.items():
            receipt = future.result(10)
            assert receipt.result.code is code, (code, receipt)
            assert receipt.result.detail
        # Rule rejections are in a block; intake rejections in the receiving validator's log.
        assert cases[Code.REPLAY].result().height is not None
        assert cases[Code.BAD_SIGNATURE].result().height is None
        intake = c.inspect(
            lambda node: node.log.intake_rejections(), cases[Code.MALFORMED].result().validator
        )
        assert {r.code for r in intake} >= {"malformed"}
        assert c.running_validators() == [0, 1, 2, 3]
        assert all(ref.is_alive() for ref in c._validators.values())
        assert (
            alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=3)).result(10).accepted
        )
    finally:
        c.stop()


def test_one_validator_down_the_rest_commit_and_it_catches_up(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        users = funded_users(c, 4)
        c.stop_validator(3)
        users = [c.participant(u.identity, validator=i % 3) for i, u in enumerate(users)]
        assert all(f.result(20).accepted for f in _pay(users, random.Random(2), 200))
        height = c.height(0)
        assert c.height(0) > 0
        c.start_validator(3)
        assert wait_until(lambda: c.height(3) >= height, 30)
        assert c.state_digest(3) == c.state_digest(0) or wait_until(
            lambda: c.state_digest(3) == c.state_digest(0)
        )
        assert block_hashes(c, 3)[:height] == block_hashes(c, 0)[:height]
    finally:
        c.stop()


def test_dead_proposer_a_later_round_commits_within_bounded_time(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        users = funded_users(c, 3)
        height = c.height(0) + 1
        proposer = ConsensusConfig(c.genesis.chain_id, c.genesis.validator_keys).proposer(height, 0)
        c.stop_validator(proposer)
        live = [v for v in range(4) if v != proposer]
        payer = c.participant(users[0].identity, validator=live[0])
        receipt = payer.submit(Transfer(token="NORTH", to=users[1].public_key, amount=1)).result(10)
        assert receipt.accepted and receipt.height == height
        header = c.head(live[0])
        assert header is not None and header.round >= 1 and header.proposer != proposer
    finally:
        c.stop()


def test_proposer_stopped_mid_round_after_one_peer_saw_its_proposal(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        users = funded_users(c, 3)
        height = c.height(0) + 1
        proposer = ConsensusConfig(c.genesis.chain_id, c.genesis.validator_keys).proposer(height, 0)
        witness = (proposer + 1) % 4

        def only_proposal_to_witness(sender: int, recipient: int, payload: bytes) -> bool:
            if sender != proposer:
                return True
            message = decode_peer_message(payload)
            if isinstance(message, SignedProposal):
                if recipient == witness:
                    # The proposal is on its way: the proposer dies now, mid-round.
                    c.router.detach(proposer)
                    return True
            return False

        c.router.link_filter = only_proposal_to_witness
        payer = c.participant(users[0].identity, validator=proposer)
        future = payer.submit(Transfer(token="NORTH", to=users[1].public_key, amount=1))
        live = [v for v in range(4) if v != proposer]
        assert wait_until(lambda: all(c.height(v) >= height for v in live), 20)
        assert len({c.state_digest(v) for v in live}) == 1
        assert len({tuple(block_hashes(c, v)) for v in live}) == 1
        del future
    finally:
        c.stop()


@pytest.mark.asyncio
async def test_submit_is_awaitable_without_blocking_the_event_loop(tmp_path: Path) -> None:
    c = start(tmp_path)
    try:
        alice, bob = funded_users(c, 2)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        task = asyncio.create_task(ticker())
        receipts = await asyncio.gather(
            *(alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=1)) for _ in range(20))
        )
        task.cancel()
        assert all(r.accepted for r in receipts)
        assert ticks > 0
    finally:
        c.stop()


def test_every_precommit_in_a_certificate_is_in_its_signers_log(tmp_path: Path) -> None:
    """Signatures are recorded in one write just before the shell sends; this checks that the
    actor does write them, for every vote that left and was counted."""
    c = start(tmp_path)
    alice, bob = funded_users(c, 2)
    for amount in range(1, 6):
        assert alice.submit(Transfer(token="NORTH", to=bob.public_key, amount=amount)).result(10)
    assert wait_until(lambda: _all_equal_heights(c))
    c.stop()
    logs = [EventLog(c.validator_dir(i), c.genesis, readonly=True) for i in range(4)]
    try:
        head = logs[0].head_height
        for height in range(max(1, head - 8), head + 1):
            qc = logs[0].stored_block(height).committed.qc
            for vote in qc.votes:
                slots = {slot for slot, _ in logs[vote.validator].signed_records(height)}
                assert b"C" + qc.round.to_bytes(4, "big") in slots, (height, vote.validator)
    finally:
        for log in logs:
            log.close()
