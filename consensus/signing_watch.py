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


def log_as_old_as_chain(config: ConsensusConfig, log_created_ms: int, first_block_ms: int) -> bool:
    """Whether a log was first started no later than a timely block 1 allows: then it is the
    validator's original log, which records every signature before it leaves and keeps the
    latest, so a missing record means nothing was signed (or nothing lately, below every
    height still decided). A log started later may replace a lost one."""
    earliest = log_created_ms - config.max_clock_drift_ms - config.message_delay_ms
    return first_block_ms >= earliest


class SigningWatch:
    def __init__(
        self,
        config: ConsensusConfig,
        index: int,
        since_ms: int,
        log_created_ms: int | None = None,
    ) -> None:
        """``since_ms``: now, when the validator starts without a signing record on a log it
        first started at ``log_created_ms`` (default: now). The watch waits to see block 1 (the
        shell passes it on at once when its log holds it) and holds nothing back before: every
        validator of a new chain starts with an empty log, and all of them waiting none would
        ever sign."""
        self._config = config
        self._index = index
        self._since_ms = since_ms
        self._log_created_ms = since_ms if log_created_ms is None else log_created_ms
        self._armed = False
        self._remaining = config.double_sign_check_heights

    def first_block(self, time_ms: int) -> None:
        """Block 1, as the validator's log holds it or as it commits: a log as old as the
        chain ends the watch; a newer one arms it. Held against the latest restart instead, an
        honest validator that crashed before it ever signed came back watching, and with one
        more validator down nothing would commit again (found by the simulator)."""
        if log_as_old_as_chain(self._config, self._log_created_ms, time_ms):
            log.info("validator %d: its log is as old as the chain; signing", self._index)
            self._remaining = 0
        else:
            self._armed = True

    @property
    def over(self) -> bool:
        return self._remaining <= 0

    @property
    def may_sign(self) -> bool:
        return self.over or not self._armed

    def committed(self, committed: CommittedBlock) -> None:
        """Block 1 decides (``first_block``); once armed, count a block proposed after the
        start (even by a clock up to the precision ahead) and certified without this
        validator."""
        header, config = committed.block.header, self._config
        if not self._armed:
            if header.height == 1:
                self.first_block(header.time_ms)
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
