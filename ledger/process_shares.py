"""What validators of one process compute once between them, and hand to each other.

Validators that share a process and share verifications (``ConsortiumConfig``) are one trust
domain: each memo here holds the result of a pure computation one of them did on given bytes,
keyed by those bytes, so another may take it instead of repeating the computation. Which memos
exist follows the consortium's config; validators in other processes share nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.ledger.execution_memo import ExecutionMemo
from consortium.ledger.intake_memo import IntakeMemo
from consortium.rules.lthash import EXPANSIONS_KEPT, SharedExpansions


@dataclass(frozen=True)
class ProcessShares:
    """The shared memos; None where each validator computes for itself."""

    executions: ExecutionMemo | None = None
    """Blocks executed (``share_executions``)."""
    intake: IntakeMemo | None = None
    """Events decoded with every signature verified (``share_verifications``)."""
    expansions: SharedExpansions | None = None
    """The table hashes' row expansions (``share_verifications``)."""


NOTHING_SHARED = ProcessShares()


def process_shares(
    share_verifications: bool, share_executions: bool, local_validators: int
) -> ProcessShares:
    """The memos for ``local_validators`` validators of one process, as the config says.

    The shared expansions keep as many rows as each validator's own would, for every validator,
    so sharing them takes no more memory than not; one validator alone keeps its own.
    """
    expansions = None
    if share_verifications and local_validators > 1:
        expansions = SharedExpansions(EXPANSIONS_KEPT * local_validators)
    return ProcessShares(
        executions=ExecutionMemo() if share_executions else None,
        intake=IntakeMemo() if share_verifications else None,
        expansions=expansions,
    )
