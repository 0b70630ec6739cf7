"""``consortium demo``: a 4-validator consortium in this process, driven through its workflows.

Each business process is one section module with ``TITLE``, ``ORGANISATIONS`` (organisations
whose admin the genesis names), ``TOKENS``, ``WORKFLOWS`` (declarative definitions the genesis
carries) and ``run(consortium, say, events)``. Keys come from
fixed seeds, so a second run on the same directory is the same consortium and resumes from disk.
"""

from __future__ import annotations

import time
from pathlib import Path

from consortium.api import Consortium
from consortium.config import ConsortiumConfig
from consortium.demo import insurance, payments, private_data, rebate, restitution
from consortium.demo.common import CHAIN_ID, Say, admin, identity
from consortium.events.genesis import Genesis, GenesisParticipant, GenesisValidator, TokenDefinition
from consortium.events.identity import Identity

SECTIONS = (insurance, restitution, rebate, private_data, payments)
VALIDATOR_ORGANISATIONS = ("north-bank", "south-bank", "east-pay", "west-pay")
GENESIS_TIME_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def demo_genesis() -> tuple[Genesis, list[Identity]]:
    validators = [identity(f"validator@{org}") for org in VALIDATOR_ORGANISATIONS]
    organisations = list(dict.fromkeys(o for s in SECTIONS for o in s.ORGANISATIONS))
    genesis = Genesis(
        chain_id=CHAIN_ID,
        genesis_time_ms=GENESIS_TIME_MS,
        validators=tuple(
            GenesisValidator(v.name, org, v.public_key)
            for v, org in zip(validators, VALIDATOR_ORGANISATIONS, strict=True)
        ),
        participants=tuple(
            GenesisParticipant(admin(org).name, org, "org_admin", admin(org).public_key)
            for org in organisations
        ),
        tokens=tuple(TokenDefinition(sym, org) for s in SECTIONS for sym, org in s.TOKENS),
        workflows=tuple(w for s in SECTIONS for w in s.WORKFLOWS),
    )
    return genesis, validators


def run_demo(data_dir: Path, events: int, say: Say, durable: bool = True) -> int:
    genesis, validators = demo_genesis()
    resumed = (data_dir / "validator-0" / "data.mdb").exists()
    say(f"{'Resuming' if resumed else 'Starting'} a 4-validator consortium in {data_dir}")
    with Consortium(genesis, data_dir, validators, ConsortiumConfig(durable=durable)) as c:
        say(f"  height {c.height()} after opening the logs")
        for section in SECTIONS:
            say(section.TITLE)
            section.run(c, say, events)
        _wait_for_equal_heights(c)
        say(f"Height {c.height()}; state digest of each validator:")
        digests = [c.state_digest(i) for i in range(c.size)]
        for i, d in enumerate(digests):
            say(f"  validator {i} ({genesis.validators[i].organisation:<10}) {d.hex()}")
        if len(set(digests)) != 1:
            say("ERROR: the validators' state digests differ")
            return 1
    return 0


def _wait_for_equal_heights(c: Consortium, timeout_s: float = 10.0) -> None:
    """Receipts come from one validator; give the others a moment to apply the same block."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len({c.height(i) for i in range(c.size)}) == 1:
            return
        time.sleep(0.05)
