"""The one failure of block execution that is not a verdict on an event.

A rule refuses an event by raising ``Rejected``; that verdict goes on the ledger, and every
validator reaches it alike because it depends on nothing but the state and the event. Anything
else a rule, a block hook or the state encoding raises (a bug, ``MemoryError``,
``RecursionError``, an ``OverflowError``) may depend on the machine: one validator's stack or
heap is not another's. Writing it down as a verdict could split the validators, so execution
stops with an ``ExecutionFault`` instead, and the validator decides what to do with the block
(see ``LedgerNode.check_block``).
"""

from __future__ import annotations

from consortium.events.errors import ConsortiumError


class ExecutionFault(ConsortiumError):
    """Executing the block at ``height`` raised something no rule raises on purpose.

    ``event_id`` names the event being executed, or is None when the fault came from a block
    hook or from encoding the block's state.
    """

    def __init__(self, height: int, event_id: bytes | None, where: str, cause: BaseException):
        super().__init__(
            f"executing height {height} failed {where}: {type(cause).__name__}: {cause}"
        )
        self.height = height
        self.event_id = event_id
        self.where = where
