"""Who proposes each round: round robin, except that round 0 skips validators absent from the
recent chain (docs/consensus.md, "Proposer selection").

The window holds the proposers of the last committed blocks, the one thing about recent
liveness that every validator agrees on (each assembles its own quorum certificates), so the
proposer is a pure function of the committed chain and every honest validator picks the same.
"""

from __future__ import annotations

from collections import deque

from consortium.consensus.application import Application
from consortium.consensus.config import ConsensusConfig


class ProposerSchedule:
    def __init__(self, config: ConsensusConfig, app: Application) -> None:
        """Read the window back from the committed chain, as a restart must."""
        self._config = config
        self._window: deque[int] = deque(maxlen=config.reputation_window)
        if self._window.maxlen:
            head = app.head().height
            first = max(1, head - self._window.maxlen + 1)
            for committed in app.committed_blocks(first, head - first + 1):
                self._window.append(committed.block.header.proposer)

    def committed(self, proposer: int) -> None:
        """The block just committed was proposed by ``proposer``."""
        if self._window.maxlen:
            self._window.append(proposer)

    def proposer(self, height: int, round_: int) -> int:
        """The proposer of ``round_`` at ``height``, the height after the window's last block."""
        config, window = self._config, self._window
        fallback = config.proposer(height, round_)
        if round_ > 0 or not window.maxlen or len(window) < window.maxlen:
            return fallback
        if config.reputation_probation_heights and (
            height % config.reputation_probation_heights < config.n
        ):
            return fallback
        active = set(window)
        return next(v for k in range(config.n) if (v := (height + k) % config.n) in active)
