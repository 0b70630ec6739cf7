"""The double-sign check after log loss (docs/consensus.md, rule 11), in the spirit of
CometBFT's ``double_sign_check_height``.

A validator that lost its signing record may have signed at the heights it resumes at; it signs
nothing until blocks proposed after its start are committed without its signature. The start
time is the one clock reading, taken by the shell; everything else comes from commits.
"""

from __future__ import annotations

from consortium.consensus.config import ConsensusConfig
from consortium.events.block import CommittedBlock
from consortium.events.logs import get_logger

log = get_logger(__name__)


class SigningWatch:
    def __init__(
        self,
        config: ConsensusConfig,
        index: int,
        since_ms: int,
        height: int,
        log_created_ms: int | None = None,
    ) -> None:
        """``height``: the one the validator resumes at. At height 1 (an empty log) the watch
        waits to see how old block 1 is before it holds anything back: every validator of a
        new chain starts with an empty log, and all of them waiting none would ever sign.
        ``log_created_ms``: when the validator first started on its log, which block 1 is held
        against (default: now). A validator that started with the chain, crashed before block
        1 reached it and came back later has an old log, not a lost one: held against its
        restart, it would watch, and with one more validator down nothing would commit again
        (found by the simulator)."""
        self._config = config
        self._index = index
        self._since_ms = since_ms
        self._log_created_ms = since_ms if log_created_ms is None else log_created_ms
        self._armed = height > 1
        self._remaining = config.double_sign_check_heights

    @property
    def over(self) -> bool:
        return self._remaining <= 0

    @property
    def may_sign(self) -> bool:
        return self.over or not self._armed

    def committed(self, committed: CommittedBlock) -> None:
        """Before it is armed: block 1 older than any timely block means an old chain, whose
        heights the validator may have signed in (watch from here); a newer one, a new chain
        (the watch is over). Armed: count a block proposed after the start (even by a clock up
        to the precision ahead) and certified without this validator."""
        header, config = committed.block.header, self._config
        if not self._armed:
            earliest = self._log_created_ms - config.max_clock_drift_ms - config.message_delay_ms
            self._armed = header.time_ms < earliest
            if not self._armed:
                log.info("validator %d: a new chain; signing without a record", self._index)
                self._remaining = 0
            return
        if header.time_ms <= self._since_ms + config.max_clock_drift_ms:
            return
        if any(vote.validator == self._index for vote in committed.qc.votes):
            return
        self._remaining -= 1
        if self.over:
            log.info(
                "validator %d: past height %d without its signature; signing again",
                self._index,
                header.height,
            )
