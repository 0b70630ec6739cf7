"""Auditing a copy of a ledger: what a regulator does with one validator's data directory.

Runs a small consortium, stops it, copies one validator's directory (as a regulator would
receive it), audits the copy, proves one event's inclusion and checks the proof with nothing but
the genesis.

Run: python examples/audit_copy.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from consortium import (
    Consortium,
    ConsortiumConfig,
    Genesis,
    GenesisParticipant,
    GenesisValidator,
    Identity,
    IssueTokens,
    RegisterParticipant,
    TokenDefinition,
    Transfer,
)
from consortium.audit.proofs import check_proof, load_genesis, prove_inclusion
from consortium.audit.verify import audit


def run_ledger(data: Path) -> bytes:
    validators = [Identity.generate(f"validator-{i}") for i in range(4)]
    admin, alice, bob = (Identity.generate(n) for n in ("admin", "alice", "bob"))
    genesis = Genesis(
        chain_id="audit-example",
        genesis_time_ms=1_767_225_600_000,
        validators=tuple(
            GenesisValidator(v.name, f"org-{i}", v.public_key) for i, v in enumerate(validators)
        ),
        participants=(GenesisParticipant("admin", "org-0", "org_admin", admin.public_key),),
        tokens=(TokenDefinition("EUR", "org-0"),),
    )
    with Consortium(genesis, data, validators, ConsortiumConfig(durable=False)) as consortium:
        issuer = consortium.participant(admin)
        for who in (alice, bob):
            issuer.submit(
                RegisterParticipant(participant=who.public_key, name=who.name, role="user")
            ).result(10)
        issuer.submit(IssueTokens(token="EUR", to=alice.public_key, amount=1_000)).result(10)
        payer = consortium.participant(alice)
        receipts = [
            payer.submit(Transfer(token="EUR", to=bob.public_key, amount=10)).result(10)
            for _ in range(20)
        ]
    return receipts[7].event_id


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        event = run_ledger(Path(tmp) / "ledger")
        copy = Path(tmp) / "received-copy"
        shutil.copytree(Path(tmp) / "ledger" / "validator-2", copy)
        report = audit(copy)
        print(
            f"audit: {'OK' if report.ok else 'FAILED'}; {report.blocks} blocks, "
            f"{report.events} events, {report.signatures} signatures checked"
        )
        proof = prove_inclusion(copy, event)
        problem = check_proof(json.loads(json.dumps(proof)), load_genesis(copy))
        print(f"inclusion proof of event {event.hex()[:16]}…: {problem or 'holds'}")


if __name__ == "__main__":
    main()
