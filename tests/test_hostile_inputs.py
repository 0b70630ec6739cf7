"""Every kind of hostile input, through the public API of one embedded 4-validator consortium.

Each case is one row of a table: what was sent, the typed answer its submitter must get. After
all of them the validators are all up, agree on one state digest, and still commit honest
events: no input halted, poisoned or split the ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec
import pytest

from consortium.api import Consortium, ParticipantHandle
from consortium.audit.verify import audit
from consortium.body_check import InvalidBody
from consortium.demo.common import CHAIN_ID, identity as demo_identity
from consortium.events.body import EventBody
from consortium.events.codec import encode
from consortium.events.envelope import Envelope, Signature, seal
from consortium.events.identity import Identity
from consortium.events.payments import IssueTokens, Transfer
from consortium.events.results import Code
from consortium.events.signing import Domain
from tests.consortium_fixtures import FAST, funded_users, start, wait_until

CHAIN = CHAIN_ID
MAX_U64 = 2**64 - 1


@dataclass
class Parties:
    consortium: Consortium
    admin: ParticipantHandle
    alice: ParticipantHandle
    bob: ParticipantHandle
    stranger: Identity


@pytest.fixture(autouse=True)
def stop_all_actors() -> Iterator[None]:
    """The consortium here lives for the module; its own fixture stops it."""
    yield


@pytest.fixture(scope="module")
def parties(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Parties]:
    c = start(tmp_path_factory.mktemp("hostile"), FAST)
    alice, bob = funded_users(c, 2)
    admin = c.participant(demo_identity("admin@north-bank"))
    yield Parties(c, admin, alice, bob, Identity.generate("stranger"))
    c.stop()


def _signed(body_bytes: bytes, signer: Identity, chain: str = CHAIN) -> bytes:
    signature = Signature(signer.public_key, signer.sign(Domain.EVENT, chain, body_bytes))
    return encode(Envelope(body_bytes, (signature,)))


def _transfer_fields(p: Parties, seq: int) -> dict[str, object]:
    return msgspec.to_builtins(
        Transfer(token="NORTH", to=p.bob.public_key, amount=1, author=p.alice.public_key, seq=seq)
    )


def _nested(depth: int) -> msgspec.Raw:
    return msgspec.Raw(b"\x91" * depth + b"\xc0")


def _next_seq(p: Parties, who: ParticipantHandle) -> int:
    return p.consortium.nonce(who.public_key) + 1000


Case = Callable[[Parties], bytes]


def _forged_signature(p: Parties) -> bytes:
    envelope = bytearray(p.alice.sign(Transfer(token="NORTH", to=p.bob.public_key, amount=1)))
    envelope[-1] ^= 0x01
    return bytes(envelope)


def _signed_for_another_chain(p: Parties) -> bytes:
    body = Transfer(token="NORTH", to=p.bob.public_key, amount=1, author=p.alice.public_key, seq=9)
    return seal(body, "another-chain", [p.alice.identity])


def _unknown_author(p: Parties) -> bytes:
    body = Transfer(
        token="NORTH", to=p.bob.public_key, amount=1, author=p.stranger.public_key, seq=1
    )
    return seal(body, CHAIN, [p.stranger])


def _replayed_sequence_number(p: Parties) -> bytes:
    first = p.alice.submit(Transfer(token="NORTH", to=p.bob.public_key, amount=1)).result(30)
    assert first.accepted
    used = p.consortium.nonce(p.alice.public_key)
    body = Transfer(
        token="NORTH", to=p.bob.public_key, amount=2, author=p.alice.public_key, seq=used
    )
    return seal(body, CHAIN, [p.alice.identity])


def _body(p: Parties, body: EventBody, signer: ParticipantHandle) -> bytes:
    seq = _next_seq(p, signer)
    signed = msgspec.structs.replace(body, author=signer.public_key, seq=seq)
    return seal(signed, CHAIN, [signer.identity])


def _deeply_nested_unknown_field(p: Parties, depth: int) -> bytes:
    fields = _transfer_fields(p, _next_seq(p, p.alice)) | {"junk": _nested(depth)}
    return _signed(encode(fields), p.alice.identity)


def _unknown_field(p: Parties) -> bytes:
    fields = _transfer_fields(p, _next_seq(p, p.alice)) | {"surprise": 1}
    return _signed(encode(fields), p.alice.identity)


def _unknown_event_type(p: Parties) -> bytes:
    fields = _transfer_fields(p, _next_seq(p, p.alice)) | {"type": "mint_for_me"}
    return _signed(encode(fields), p.alice.identity)


def _seventeen_signatures(p: Parties) -> bytes:
    envelope = p.alice.sign(Transfer(token="NORTH", to=p.bob.public_key, amount=1))
    decoded = msgspec.msgpack.decode(envelope, type=Envelope)
    return encode(Envelope(decoded.body, decoded.signatures * 17))


CASES: dict[str, tuple[Case, Code]] = {
    "forged signature": (_forged_signature, Code.BAD_SIGNATURE),
    "signed for another chain": (_signed_for_another_chain, Code.BAD_SIGNATURE),
    "random bytes": (lambda p: b"\x00\xffnot msgpack", Code.MALFORMED),
    "empty bytes": (lambda p: b"", Code.MALFORMED),
    "over 64 KiB": (
        lambda p: _body(
            p, Transfer(token="NORTH", to=p.bob.public_key, amount=1, memo="x" * 70_000), p.alice
        ),
        Code.MALFORMED,
    ),
    "17 signatures": (_seventeen_signatures, Code.MALFORMED),
    "unknown event type": (_unknown_event_type, Code.MALFORMED),
    "unknown field": (_unknown_field, Code.MALFORMED),
    "unknown field nested 33 deep": (lambda p: _deeply_nested_unknown_field(p, 33), Code.MALFORMED),
    "unknown field nested 980 deep": (
        lambda p: _deeply_nested_unknown_field(p, 980),
        Code.MALFORMED,
    ),
    "unknown field nested 60,000 deep": (
        lambda p: _deeply_nested_unknown_field(p, 60_000),
        Code.MALFORMED,
    ),
    "unknown author": (_unknown_author, Code.UNKNOWN_AUTHOR),
    "replayed sequence number": (_replayed_sequence_number, Code.REPLAY),
    "user issuing tokens": (
        lambda p: _body(p, IssueTokens(token="NORTH", to=p.alice.public_key, amount=5), p.alice),
        Code.WRONG_ROLE,
    ),
    "overdraft": (
        lambda p: _body(p, Transfer(token="NORTH", to=p.bob.public_key, amount=10**12), p.alice),
        Code.INSUFFICIENT_FUNDS,
    ),
    "negative amount": (
        lambda p: _body(p, Transfer(token="NORTH", to=p.bob.public_key, amount=-5), p.alice),
        Code.INVALID,
    ),
    "transfer of 2**64-1": (
        lambda p: _body(p, Transfer(token="NORTH", to=p.bob.public_key, amount=MAX_U64), p.alice),
        Code.INVALID,
    ),
    "issue 2**64-1 to a holder": (
        lambda p: _body(
            p, IssueTokens(token="NORTH", to=p.alice.public_key, amount=MAX_U64), p.admin
        ),
        Code.INVALID,
    ),
    "issue 2**63 twice to a holder": (
        lambda p: _body(
            p, IssueTokens(token="NORTH", to=p.bob.public_key, amount=2**63 - 1), p.admin
        ),
        Code.INVALID,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_hostile_input_gets_its_typed_answer(parties: Parties, name: str) -> None:
    make, expected = CASES[name]
    envelope = make(parties)
    receipt = parties.alice.submit_signed(envelope).result(30)
    assert receipt.result.code is expected, (name, receipt.result)


def test_an_unencodable_body_raises_before_anything_is_signed(parties: Parties) -> None:
    for amount in (2**64, 2**70, -(2**63) - 1):
        with pytest.raises(InvalidBody):
            parties.alice.submit(Transfer(token="NORTH", to=parties.bob.public_key, amount=amount))


def test_after_every_hostile_input_the_validators_agree_and_commit(parties: Parties) -> None:
    c = parties.consortium
    alice = c.participant(parties.alice.identity)  # the hostile cases used her later numbers
    receipt = alice.submit(Transfer(token="NORTH", to=parties.bob.public_key, amount=1))
    assert receipt.result(30).accepted
    assert c.running_validators() == [0, 1, 2, 3]
    height = receipt.result(30).height
    assert height is not None

    def agreed() -> bool:
        return len({(c.height(v), c.state_digest(v)) for v in range(4)}) == 1

    assert wait_until(agreed)


def test_every_log_replays_and_audits_after_the_hostile_inputs(parties: Parties) -> None:
    """What was committed, the hostile rejections among it, decodes and replays on every
    validator's log: no record poisons a later rebuild."""
    c = parties.consortium
    digest = c.state_digest(0)
    c.stop()
    for v in range(4):
        report = audit(c.validator_dir(v), workers=1)
        assert report.divergence is None, (v, report.divergence)
        assert report.head_state_digest == digest
