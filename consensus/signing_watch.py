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
    def __init__(self, config: ConsensusConfig, index: int, since_ms: int) -> None:
        self._config = config
        self._index = index
        self._since_ms = since_ms
        self._remaining = config.double_sign_check_heights

    @property
    def over(self) -> bool:
        return self._remaining <= 0

    def may_sign(self, height: int) -> bool:
        """Only once the watch is over, or at height 1: a new chain, where every validator
        starts with an empty log, looks just like a log lost there, and with every validator
        waiting none would ever sign. (Far behind, a vote at height 1 reaches no peer that
        still decides it.)"""
        return self.over or height == 1

    def committed(self, committed: CommittedBlock, live: bool) -> None:
        """Count a block proposed after the start (even by a clock up to the precision ahead)
        and certified without this validator. Height 1 committed from precommits heard
        ``live``, in a block no older than a timely one, ends the watch: the chain was new
        when the validator started."""
        header, config = committed.block.header, self._config
        if header.height == 1 and live:
            earliest = self._since_ms - config.max_clock_drift_ms - config.message_delay_ms
            if header.time_ms >= earliest:
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
