"""Blocks executed by one validator of this process, offered to the others.

Validators that share a process share one trust domain (as with ``VerificationMemo``): when one
of them has executed a block on a given state and found that it reproduces its header, the
others, holding the same state, may adopt that execution instead of repeating it. The key is the
block hash together with the digest of the state it was executed on, so a validator whose state
differs never adopts another's result. Only executions that matched their header (or that the
proposer built) are offered. Validators in other processes execute everything themselves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from consortium.rules.replay import BlockRun


class ExecutionMemo:
    def __init__(self, capacity: int = 32) -> None:
        self._capacity = capacity
        self._runs: OrderedDict[tuple[bytes, bytes], BlockRun] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def get(self, block_hash: bytes, pre_state: bytes) -> BlockRun | None:
        with self._lock:
            run = self._runs.get((block_hash, pre_state))
            if run is not None:
                self.hits += 1
            return run

    def put(self, block_hash: bytes, pre_state: bytes, run: BlockRun) -> None:
        with self._lock:
            self._runs[(block_hash, pre_state)] = run
            while len(self._runs) > self._capacity:
                self._runs.popitem(last=False)
