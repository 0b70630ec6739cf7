"""A bounded, thread-safe memo: the shape shared by every memo validators of one process share.

The shared signature verifications, decoded events and block executions are each a map from
what was computed to its result, read and filled by several validator threads, and bounded so
that a flood of distinct inputs cannot grow the process. The oldest entry leaves first: each of
them is most useful right after it is made (an event gossiped to every validator, a block every
validator checks), so recency of writing is what matters, and nothing is re-ordered on a read.
Only speed depends on what is kept: a miss recomputes the same result.

Reads take the lock too, so correctness rests on the lock and not on the GIL making one dict
read atomic (the project keeps its code ready for free-threaded CPython); an uncontended lock
costs well under a microsecond against the decoding, verification or execution a hit saves.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMemo(Generic[K, V]):
    """At most ``capacity`` entries; ``hits`` counts the reads that found one."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity is {capacity}; it must be at least 1")
        self._capacity = capacity
        # An OrderedDict drops its oldest entry in O(1); a dict's first live entry is found by
        # scanning past every entry deleted before it.
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                self.hits += 1
            return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` (never None, which reads as a miss) under ``key``."""
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
