"""What validators of one process compute once between them, and hand to each other.

Validators that share a process and share verifications (``ConsortiumConfig``) are one trust
domain: each memo here holds the result of a pure computation one of them did on given bytes,
keyed by those bytes, so another may take it instead of repeating the computation. Which memos
exist follows the consortium's config; validators in other processes share nothing, and
neither does a validator alone in its process (a node process): nobody would read what it kept,
and keeping it cost a node process about 5% of its time under the GIL (hashing each signature's
memo key, and two locked memo writes per event) for no hit at all (counted: 0 hits in 10,205
verifications per node).
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.events.verify_memo import VerificationMemo
from consortium.ledger.execution_memo import ExecutionMemo
from consortium.ledger.intake_memo import IntakeMemo
from consortium.rules.lthash import BUSY_ARRAY_MIN_ROWS, EXPANSIONS_KEPT, SharedExpansions


@dataclass(frozen=True)
class ProcessShares:
    """The shared memos; None where each validator computes for itself."""

    verifications: VerificationMemo | None = None
    """Signatures verified (``share_verifications``)."""
    executions: ExecutionMemo | None = None
    """Blocks executed (``share_executions``)."""
    intake: IntakeMemo | None = None
    """Events decoded with every signature verified (``share_verifications``)."""
    expansions: SharedExpansions | None = None
    """The table hashes' row expansions (``share_verifications``)."""
    array_min_rows: int = 0
    """Not a memo but a property of the process: the fewest rows a table-hash update of its
    validators sums with numpy. Several validators in one process contend for the GIL, which
    numpy lets go of (``BUSY_ARRAY_MIN_ROWS``); one alone keeps the arrays for every update."""


NOTHING_SHARED = ProcessShares()


def process_shares(
    share_verifications: bool, share_executions: bool, local_validators: int
) -> ProcessShares:
    """The memos for ``local_validators`` validators of one process, as the config says.

    The shared expansions keep as many rows as each validator's own would, for every validator,
    so sharing them takes no more memory than not.
    """
    if local_validators < 2:
        return NOTHING_SHARED
    executions = ExecutionMemo() if share_executions else None
    if not share_verifications:
        return ProcessShares(executions=executions, array_min_rows=BUSY_ARRAY_MIN_ROWS)
    return ProcessShares(
        verifications=VerificationMemo(),
        executions=executions,
        intake=IntakeMemo(),
        expansions=SharedExpansions(EXPANSIONS_KEPT * local_validators, BUSY_ARRAY_MIN_ROWS),
        array_min_rows=BUSY_ARRAY_MIN_ROWS,
    )
