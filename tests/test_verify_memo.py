"""The shared verification memo never accepts what plain verification would refuse."""

from __future__ import annotations

from consortium.events.identity import Identity
from consortium.events.signing import Domain
from consortium.events.verify_memo import VerificationMemo

ALICE = Identity.from_seed("alice", b"memo")


def test_memo_hits_only_for_the_exact_same_verification() -> None:
    memo = VerificationMemo()
    sig = ALICE.sign(Domain.EVENT, "chain", b"body")
    assert memo.verify(ALICE.public_key, sig, Domain.EVENT, "chain", b"body")
    assert memo.verify(ALICE.public_key, sig, Domain.EVENT, "chain", b"body")
    assert memo.hits == 1
    assert not memo.verify(ALICE.public_key, sig, Domain.EVENT, "chain", b"other body")
    assert not memo.verify(ALICE.public_key, sig, Domain.EVENT, "other-chain", b"body")
    assert not memo.verify(ALICE.public_key, sig, Domain.PREVOTE, "chain", b"body")
    assert memo.hits == 1


def test_failed_verifications_are_not_remembered_and_capacity_is_bounded() -> None:
    memo = VerificationMemo(capacity=4)
    assert not memo.verify(ALICE.public_key, bytes(64), Domain.EVENT, "c", b"x")
    assert not memo.verify(ALICE.public_key, bytes(64), Domain.EVENT, "c", b"x")
    assert memo.hits == 0
    for i in range(10):
        body = f"b{i}".encode()
        assert memo.verify(
            ALICE.public_key, ALICE.sign(Domain.EVENT, "c", body), Domain.EVENT, "c", body
        )
    assert len(memo) == 4
