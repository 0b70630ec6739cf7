"""Table-hash lanes summed in a child process, so that a replay's own process only executes.

A replay spends about a third of its time on the table hashes, nearly all of it one SHAKE-128
expansion of 2,048 bytes per new row (``rules/lthash.py``). hashlib keeps the GIL for inputs that
short, so a thread cannot take that work off the executing one; a child process can. A replay
hands each few thousand changed rows, encoded, to the child (``State.hand_off_unhashed``) and
goes on executing while the child sums their expansions. When the replay holds the digests
against a header, it asks for the sums and adds them to its table hashes (``LtHash.add_hash``).

The child is ``python -m consortium.rules.lane_worker``, not a multiprocessing child: a spawned
multiprocessing child re-imports the host's main module, and a host that embeds validators has
no reason to guard its own. It reads length-prefixed msgpack frames on stdin and answers on
stdout.

Only speed depends on the child. Every batch handed over is kept here until its sums arrive. If
the child cannot be started, exits, answers anything but the lanes of exactly the tables it was
given, or does not answer within ``reply_timeout_s``, the kept batches are summed here instead
and the child is not used again. The lanes are the same either way, so the wall clock behind
the timeout can change how long a replay takes, never what it finds.
"""

from __future__ import annotations

import os
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import msgspec

from consortium.events.logs import get_logger
from consortium.rules.lthash import Expansions, LtHash

log = get_logger(__name__)

RowBatch = dict[str, tuple[list[bytes], list[bytes]]]
"""Changed rows by table: the row elements (``state.row_element``) added, and those removed."""

HAND_OFF_ROWS = 4_096
"""Changed rows a replay gathers before it hands them over: about 50 ms of executing, so the
child is never more than one batch behind, and one frame of about 1 MB."""

LANE_WORKER_MIN_EVENTS = 10_000
"""Smallest log, in events, whose replay starts a child: below it the child's start-up (about
0.1 s, numpy's import most of it) is not repaid."""

_MAX_FRAME = 1 << 28  # far above any batch of HAND_OFF_ROWS rows; bounds a read before it starts
_QUEUED_FRAMES = 64  # batches waiting for the writer: a replay settles every SETTLE_ROWS rows


class _Batch(msgspec.Struct, tag="batch", array_like=True):
    tables: list[tuple[str, list[bytes], list[bytes]]]


class _Settle(msgspec.Struct, tag="settle", array_like=True):
    pass


class _Sums(msgspec.Struct, array_like=True):
    tables: list[tuple[str, bytes]]


class _WorkerFailed(Exception):
    """The child can no longer be trusted to answer; the rows are summed here instead."""


def add_batch(
    sums: dict[str, LtHash],
    batch: Mapping[str, tuple[list[bytes], list[bytes]]],
    expansions: Expansions | None = None,
) -> None:
    """Add ``batch``'s rows to ``sums`` by table, starting a table at the empty hash."""
    for name, (added, removed) in batch.items():
        sums.setdefault(name, LtHash()).update(added, removed, expansions)


def _frame(message: msgspec.Struct) -> bytes:
    payload = msgspec.msgpack.encode(message)
    return len(payload).to_bytes(4, "big") + payload


class LaneWorker:
    """One child process summing the lanes of the batches it is given, in order."""

    def __init__(self, command: Sequence[str] | None = None, reply_timeout_s: float = 60.0) -> None:
        self._reply_timeout_s = reply_timeout_s
        self._kept: list[RowBatch] = []
        self._frames: queue.Queue[bytes | None] = queue.Queue(_QUEUED_FRAMES)
        self._failed = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._writer: threading.Thread | None = None
        try:
            self._process = subprocess.Popen(
                list(command) if command is not None else _worker_command(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_worker_environment(),
            )
        except OSError as exc:
            self._give_up(f"it could not be started ({exc})")
            return
        self._writer = threading.Thread(target=self._write_frames, name="lane-writer", daemon=True)
        self._writer.start()

    @property
    def in_use(self) -> bool:
        """Whether the child still takes batches (False once it failed: rows are summed here)."""
        return not self._failed.is_set()

    def submit(self, batch: RowBatch) -> None:
        """Hand ``batch`` over; its sums come back, with the others', from ``sums``."""
        self._kept.append(batch)
        if self._failed.is_set():
            return
        frame = _frame(_Batch([(name, added, removed) for name, (added, removed) in batch.items()]))
        try:
            self._frames.put(frame, timeout=self._reply_timeout_s)
        except queue.Full:
            self._give_up("it stopped reading")

    def sums(self) -> dict[str, LtHash]:
        """The lanes of every batch submitted since the last call, by table."""
        kept, self._kept = self._kept, []
        if not kept:
            return {}
        tables = {name for batch in kept for name in batch}
        if not self._failed.is_set():
            try:
                return self._child_sums(tables)
            except _WorkerFailed as exc:
                self._give_up(str(exc))
        local: dict[str, LtHash] = {}
        for batch in kept:
            add_batch(local, batch)
        return local

    def close(self) -> None:
        """Stop the child: it exits at the end of its input, and is killed if it has not within
        5 s (or if the writer cannot even take the end of the input)."""
        process = self._process
        if process is None:
            return
        try:
            self._frames.put(None, timeout=1.0)
        except queue.Full:
            process.kill()
        try:
            process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._writer is not None:
            self._writer.join(timeout=5.0)
        if process.stdout is not None:
            _close_quietly(process.stdout)

    def _child_sums(self, tables: set[str]) -> dict[str, LtHash]:
        try:
            self._frames.put(_frame(_Settle()), timeout=self._reply_timeout_s)
        except queue.Full as exc:
            raise _WorkerFailed("it stopped reading") from exc
        deadline = time.monotonic() + self._reply_timeout_s
        size = int.from_bytes(self._read(4, deadline), "big")
        if size > _MAX_FRAME:
            raise _WorkerFailed(f"it announced an answer of {size} bytes")
        try:
            answer = msgspec.msgpack.decode(self._read(size, deadline), type=_Sums)
            sums = {name: LtHash.from_bytes(lanes) for name, lanes in answer.tables}
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise _WorkerFailed(f"its answer is malformed ({exc})") from exc
        if len(sums) != len(answer.tables) or set(sums) != tables:
            raise _WorkerFailed(f"it answered for tables {sorted(sums)}, not {sorted(tables)}")
        return sums

    def _read(self, size: int, deadline: float) -> bytes:
        """``size`` bytes of the child's answer, or ``_WorkerFailed`` once past ``deadline``."""
        assert self._process is not None and self._process.stdout is not None
        fd = self._process.stdout.fileno()
        chunks: list[bytes] = []
        left = size
        while left:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._failed.is_set():
                raise _WorkerFailed(
                    "it did not answer in time" if remaining <= 0 else "it stopped reading"
                )
            try:
                ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            except (OSError, ValueError) as exc:
                raise _WorkerFailed(f"its answer could not be awaited ({exc})") from exc
            if not ready:
                continue
            try:
                chunk = os.read(fd, left)
            except OSError as exc:
                raise _WorkerFailed(f"its answer could not be read ({exc})") from exc
            if not chunk:
                raise _WorkerFailed(f"it exited (code {self._process.poll()})")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _write_frames(self) -> None:
        """The writer thread: a frame of about 1 MB must not hold up the replay while the child
        is still starting or busy with the one before."""
        assert self._process is not None and self._process.stdin is not None
        stdin = self._process.stdin
        try:
            while (frame := self._frames.get()) is not None:
                stdin.write(frame)
                stdin.flush()
        except (OSError, ValueError) as exc:
            self._give_up(f"its input could not be written ({exc})")
        finally:
            _close_quietly(stdin)

    def _give_up(self, why: str) -> None:
        if not self._failed.is_set():
            log.warning("the lane worker failed: %s; summing table hashes in this process", why)
        self._failed.set()
        if self._process is not None and self._process.poll() is None:
            self._process.kill()


@contextmanager
def lane_worker_for(events: int | None) -> Iterator[LaneWorker | None]:
    """A child for the replay of a log of ``events`` events (None: unknown, taken as large), or
    None where it would not pay: a small log, or a platform without ``select`` on pipes."""
    if os.name != "posix" or (events is not None and events < LANE_WORKER_MIN_EVENTS):
        yield None
        return
    worker = LaneWorker()
    try:
        yield worker
    finally:
        worker.close()


def _worker_command() -> list[str]:
    return [sys.executable, "-m", "consortium.rules.lane_worker"]


def _worker_environment() -> dict[str, str]:
    """This environment, with the directory this ``consortium`` was imported from first on the
    child's path, so that the child runs this same code."""
    import consortium

    root = str(Path(consortium.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else root + os.pathsep + path}


def _close_quietly(stream: IO[bytes]) -> None:
    try:
        stream.close()
    except OSError:
        pass


def _read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's payload, or None at the end of the input."""
    header = stream.read(4)
    if len(header) < 4:
        return None
    size = int.from_bytes(header, "big")
    if size > _MAX_FRAME:
        raise ValueError(f"a frame of {size} bytes")
    payload = stream.read(size)
    if len(payload) < size:
        return None
    return payload


def main() -> int:
    """The child: sum each batch into running sums by table; answer and reset on a settle."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    decoder = msgspec.msgpack.Decoder(_Batch | _Settle)
    expansions = Expansions()  # a row removed in one batch was mostly added in the one before
    sums: dict[str, LtHash] = {}
    while (payload := _read_frame(stdin)) is not None:
        message = decoder.decode(payload)
        if isinstance(message, _Batch):
            add_batch(
                sums,
                {name: (added, removed) for name, added, removed in message.tables},
                expansions,
            )
        else:
            stdout.write(_frame(_Sums([(name, h.to_bytes()) for name, h in sorted(sums.items())])))
            stdout.flush()
            sums = {}
    return 0


if __name__ == "__main__":
    sys.exit(main())
