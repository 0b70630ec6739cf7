"""Progress on stderr for long CLI work: a line updated in place on a terminal, a line per
tenth otherwise (so logs of CI runs stay readable)."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    def __init__(self, what: str) -> None:
        self._what = what
        self._tty = sys.stderr.isatty()
        self._last_print = 0.0
        self._last_tenth = -1
        self._open = False  # a line is on the terminal without its newline

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self._tty:
            now = time.monotonic()
            if now - self._last_print >= 0.1 or done == total:
                self._last_print = now
                self._open = done != total
                end = "" if self._open else "\n"
                sys.stderr.write(f"\r  {self._what} {done}/{total} ({100 * done // total}%){end}")
                sys.stderr.flush()
        elif (tenth := 10 * done // total) > self._last_tenth:
            self._last_tenth = tenth
            print(f"  {self._what} {done}/{total} ({100 * done // total}%)", file=sys.stderr)

    def end(self) -> None:
        """Close a line left open by work that stopped short of its total (a divergence, or a
        replay to a ledger time), so that what is printed next starts on a line of its own."""
        if self._open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._open = False
