"""The consensus state machine of one validator (Tendermint, Buchman, Kwon, Milosevic 2018).

Inputs: decoded peer messages, timeouts and "events are waiting", each with the current time.
Outputs: actions for the shell. Signatures on proposals and votes are checked here, with the
verifier passed in, so that simulations exercise the same checks as production. The names follow
docs/consensus.md: ``locked_*``, ``valid_*``, ``pol_round``, the ``upon`` rules in ``_progress``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from consortium.consensus.actions import Action, Broadcast, ScheduleTimeout, SendTo, Step, Timeout
from consortium.consensus.application import Application
from consortium.consensus.certificates import VOTE_DOMAIN, Verifier, make_qc, qc_problem
from consortium.consensus.config import ConsensusConfig
from consortium.consensus.proposer import ProposerSchedule
from consortium.consensus.signing_watch import SigningWatch
from consortium.events.block import Block, CommittedBlock, VoteSignature
from consortium.events.codec import encode
from consortium.events.errors import MalformedError
from consortium.events.logs import get_logger
from consortium.events.signing import Domain, verify_signature
from consortium.events.wire import (
    LockProof,
    PeerMessage,
    Proposal,
    SignedProposal,
    SignedVote,
    Status,
    SyncRequest,
    SyncResponse,
    Vote,
    VoteKind,
    decode_proposal,
    decode_vote,
)

log = get_logger(__name__)

Signer = Callable[[Domain, bytes, bytes], tuple[bytes, bytes] | None]
"""Signs ``body`` for this validator, keeping the third argument (a precommit's ``LockProof``)
with the record of what it signed. Returns (body, signature), where the body is what it signed
earlier in the same slot if that differs (a restart forgets votes, the signer does not); None
when it refuses and has nothing earlier to offer (a second, different proposal)."""
NIL = b""


@dataclass(frozen=True, slots=True)
class Equivocation:
    """Two different signed votes of one validator for one (kind, height, round)."""

    validator: int
    first: SignedVote
    second: SignedVote


@dataclass(slots=True)
class _Height:
    """Everything the core knows about the height being decided; dropped once it commits."""

    round: int = 0
    step: Step = Step.PROPOSE
    locked_round: int = -1
    locked_hash: bytes = NIL
    valid_round: int = -1
    valid_hash: bytes = NIL
    proposals: dict[int, tuple[Proposal, SignedProposal]] = field(default_factory=dict)
    blocks: dict[bytes, Block] = field(default_factory=dict)
    validity: dict[bytes, bool] = field(default_factory=dict)
    votes: dict[tuple[VoteKind, int], dict[int, SignedVote]] = field(default_factory=dict)
    tallies: dict[tuple[VoteKind, int], dict[bytes, dict[int, bytes]]] = field(default_factory=dict)
    round_senders: dict[int, set[int]] = field(default_factory=dict)
    fired: set[tuple[str, int]] = field(default_factory=set)
    active: bool = False
    waiting_to_propose: bool = False
    started_ms: int = 0
    own_messages: list[bytes] = field(default_factory=list)
    helped_ms: dict[tuple[int, int], int] = field(default_factory=dict)
    """(validator, round) → when this validator last sent that peer its votes of that round."""


class ConsensusCore:
    def __init__(
        self,
        config: ConsensusConfig,
        index: int,
        sign: Signer,
        app: Application,
        verify: Verifier = verify_signature,
    ) -> None:
        self.config = config
        self.index = index
        self._sign = sign
        self._verify = verify
        self.app = app
        self.evidence: list[Equivocation] = []
        self._future: list[PeerMessage] = []
        self._last_sync_request_ms = -(10**18)
        self._last_status_reply_ms: dict[int, int] = {}
        head = app.head()
        self.height = head.height + 1
        self._h = _Height()
        self._proposers = ProposerSchedule(config, app)
        self._watch: SigningWatch | None = None

    def restore_lock(self, proof: LockProof) -> None:
        """After a restart: the lock recorded with this validator's latest precommit for a block
        at the height it resumes. Without the lock it could prevote against a block it helped
        lock; without the block and its prevotes, a lock no live validator can re-propose
        would stall the height (the simulator found both)."""
        h, block = self._h, proof.block
        if block.header.height != self.height:
            return
        block_hash = block.hash
        h.locked_round, h.locked_hash = proof.round, block_hash
        h.valid_round, h.valid_hash = proof.round, block_hash
        h.blocks[block_hash] = block
        for prevote in proof.prevotes:
            vote = Vote(VoteKind.PREVOTE, self.height, proof.round, block_hash, prevote.validator)
            self._add_vote(vote, SignedVote(encode(vote), prevote.signature))

    def watch_before_signing(
        self, now_ms: int, log_created_ms: int | None = None, first_block_ms: int | None = None
    ) -> None:
        """The signing record is missing: if the log may replace a lost one (first started
        later than block 1, ``first_block_ms`` when the log holds it), sign nothing until
        ``double_sign_check_heights`` blocks proposed from now on are committed without this
        validator's signature, for it may have signed at the heights it resumes at. Not when
        the others are fewer than a quorum (n < 4): no block would ever commit without it."""
        if self.config.double_sign_check_heights > 0 and self.config.quorum < self.config.n:
            watch = SigningWatch(self.config, self.index, now_ms, log_created_ms)
            if first_block_ms is not None:
                watch.first_block(first_block_ms)
            self._watch = None if watch.over else watch

    @property
    def watching(self) -> bool:
        """Whether the validator still holds back its signatures after losing its record."""
        return self._watch is not None

    @property
    def round(self) -> int:
        """The round of the height being decided (for status and metrics)."""
        return self._h.round

    def proposer(self, round_: int) -> int:
        """The proposer of ``round_`` at the height being decided."""
        return self._proposers.proposer(self.height, round_)

    # ----------------------------------------------------------------- inputs

    def start(self, now_ms: int) -> list[Action]:
        out: list[Action] = []
        self._announce_status(out)
        self._start_round(0, now_ms, out)
        return out

    def on_events_available(self, now_ms: int) -> list[Action]:
        out: list[Action] = []
        self._activate(out)
        if self._h.waiting_to_propose:
            self._propose(now_ms, out)
        self._progress(now_ms, out)
        return out

    def may_act_on(self, timeout: Timeout) -> bool:
        """False once ``on_timeout`` would certainly ignore ``timeout``: it belongs to a height
        this validator has left. The timer thread asks this to drop stale timers before they
        wake anyone; it reads one integer that only grows, so a read racing a commit errs
        towards delivering, and ``on_timeout`` still decides."""
        return timeout.step is Step.STATUS or timeout.height >= self.height

    def on_timeout(self, timeout: Timeout, now_ms: int) -> list[Action]:
        out: list[Action] = []
        if timeout.step is Step.STATUS:
            self._announce_status(out)
            return out
        h = self._h
        if timeout.height != self.height or timeout.round != h.round:
            return out
        if timeout.step is Step.DUE:
            h.fired.discard(("due", 0))  # woken: a later wait may arm the timer again
        if timeout.step in (Step.FILL, Step.DUE):
            if h.waiting_to_propose:
                self._propose(now_ms, out)
                self._progress(now_ms, out)
            return out
        # Messages may have been lost: say again what this validator said in this round.
        out.extend(Broadcast(m) for m in h.own_messages)
        if timeout.step is Step.RESEND:
            out.append(ScheduleTimeout(timeout, self._resend_delay_ms()))
        if timeout.step is Step.PROPOSE and h.step is Step.PROPOSE:
            self._vote(VoteKind.PREVOTE, NIL, out)
            h.step = Step.PREVOTE
        elif timeout.step is Step.PREVOTE and h.step is Step.PREVOTE:
            self._vote(VoteKind.PRECOMMIT, NIL, out)
            h.step = Step.PRECOMMIT
        elif timeout.step is Step.PRECOMMIT:
            self._start_round(h.round + 1, now_ms, out)
        self._progress(now_ms, out)
        return out

    def on_message(self, sender: int, message: PeerMessage, now_ms: int) -> list[Action]:
        """``sender`` is the transport's word for who sent it; signed content never trusts it."""
        out: list[Action] = []
        try:
            if isinstance(message, SignedProposal):
                self._on_proposal(message, sender, now_ms, out)
            elif isinstance(message, SignedVote):
                self._on_vote(message, now_ms, out)
            elif isinstance(message, Status):
                self._on_status(sender, message, now_ms, out)
            elif isinstance(message, SyncRequest):
                self._on_sync_request(sender, message, out)
            elif isinstance(message, SyncResponse):
                self._on_sync_response(message, now_ms, out)
        except MalformedError as exc:
            log.debug(
                "validator %d dropped a malformed message from %d: %s", self.index, sender, exc
            )
        self._progress(now_ms, out)
        return out

    # ------------------------------------------------------------ messages in

    def _on_proposal(
        self, signed: SignedProposal, sender: int | None, now_ms: int, out: list[Action]
    ) -> None:
        proposal = decode_proposal(signed.body)
        if not self._route_by_height(proposal.height, signed, now_ms, out, sender):
            return
        proposer = self.proposer(proposal.round)
        if not self._verify(
            self.config.validators[proposer],
            signed.signature,
            Domain.PROPOSAL,
            self.config.chain_id,
            signed.body,
        ):
            return
        h = self._h
        if proposal.round in h.proposals:
            return
        # A re-proposed block (pol_round >= 0) keeps the header of the round that first proposed
        # it; only a fresh block must name this round's proposer (found by the simulator).
        if proposal.pol_round == -1 and proposal.block.header.proposer != proposer:
            return
        if not -1 <= proposal.pol_round < proposal.round:
            return
        h.proposals[proposal.round] = (proposal, signed)
        h.blocks.setdefault(proposal.block.hash, proposal.block)
        self._seen(proposer, proposal.round, out)

    def _on_vote(self, signed: SignedVote, now_ms: int, out: list[Action]) -> None:
        vote = decode_vote(signed.body)
        if not 0 <= vote.validator < self.config.n:
            return
        if not self._route_by_height(vote.height, signed, now_ms, out, vote.validator):
            return
        if not self._verify(
            self.config.validators[vote.validator],
            signed.signature,
            VOTE_DOMAIN[vote.kind],
            self.config.chain_id,
            signed.body,
        ):
            return
        self._add_vote(vote, signed)
        self._seen(vote.validator, vote.round, out)
        if vote.round < self._h.round:
            self._help_behind(vote.validator, vote.round, now_ms, out)

    def _help_behind(self, peer: int, round_: int, now_ms: int, out: list[Action]) -> None:
        """A peer still votes in an earlier round of this height: send it this validator's own
        votes of that round again (at most once per resend delay), so it can time out of that
        round too. A validator repeats only its current round's messages, so without this,
        after crashes, one validator a round ahead and two behind, the fourth silent (faulty,
        or watching before it signs), stall for ever: the two never see a quorum of votes in
        their round, nor f+1 validators in the next (found by the simulator)."""
        h = self._h
        if peer == self.index:
            return
        last = h.helped_ms.get((peer, round_))
        if last is not None and now_ms - last < self._resend_delay_ms():
            return
        mine = [
            votes[self.index]
            for kind in (VoteKind.PREVOTE, VoteKind.PRECOMMIT)
            if self.index in (votes := h.votes.get((kind, round_), {}))
        ]
        if mine:
            h.helped_ms[(peer, round_)] = now_ms
            out.extend(SendTo(peer, encode(signed)) for signed in mine)

    def _add_vote(self, vote: Vote, signed: SignedVote) -> None:
        h = self._h
        votes = h.votes.setdefault((vote.kind, vote.round), {})
        previous = votes.get(vote.validator)
        if previous is not None:
            if previous.body == signed.body:
                return
            self.evidence.append(Equivocation(vote.validator, previous, signed))
        else:
            votes[vote.validator] = signed
        # An equivocator's second vote still counts for its block: a proposer's proof of lock
        # may rest on it, and two quorums still share an honest validator when up to f
        # validators vote both ways (found by the simulator: n = 7 stuck behind a Twins pair).
        tally = h.tallies.setdefault((vote.kind, vote.round), {})
        tally.setdefault(vote.block_hash, {})[vote.validator] = signed.signature

    def _route_by_height(
        self,
        height: int,
        message: PeerMessage,
        now_ms: int,
        out: list[Action],
        sender: int | None = None,
    ) -> bool:
        """True if the message is for the current height; buffers or answers the others."""
        if height == self.height:
            return True
        if height == self.height + 1 and len(self._future) < 16 * self.config.n * 64:
            self._future.append(message)
        if height > self.height and sender is not None:
            self._request_sync(sender, now_ms, out)
        elif height < self.height and sender is not None:
            self._reply_status(sender, now_ms, out)
        return False

    def _seen(self, validator: int, round_: int, out: list[Action]) -> None:
        self._h.round_senders.setdefault(round_, set()).add(validator)
        self._activate(out)

    def _on_status(self, sender: int, status: Status, now_ms: int, out: list[Action]) -> None:
        if not 0 <= status.sender < self.config.n:
            return
        if status.height > self.height:
            self._request_sync(status.sender, now_ms, out)
        elif status.height < self.height:
            self._reply_status(status.sender, now_ms, out)

    def _announce_status(self, out: list[Action]) -> None:
        """Tell every peer this validator's height, now and again every ``status_interval_ms``.

        Answers to a lagging peer are rate-limited, and the first ``Status`` after a restart
        can reach peers that answered the previous incarnation moments ago; with nothing else
        being said, a one-off announcement would leave the peer behind for good."""
        # The timer first: should the shell fail to send, the repetition must still go on.
        out.append(ScheduleTimeout(Timeout(Step.STATUS, 0, 0), self.config.status_interval_ms))
        out.append(Broadcast(encode(Status(self.index, self.height))))

    def _request_sync(self, validator: int, now_ms: int, out: list[Action]) -> None:
        if validator == self.index:
            return
        if now_ms - self._last_sync_request_ms < self.config.sync_retry_ms:
            return
        self._last_sync_request_ms = now_ms
        out.append(SendTo(validator, encode(SyncRequest(self.index, self.height))))

    def _reply_status(self, validator: int, now_ms: int, out: list[Action]) -> None:
        if validator == self.index:
            return
        last = self._last_status_reply_ms.get(validator, -(10**18))
        if now_ms - last < self.config.sync_retry_ms:
            return
        self._last_status_reply_ms[validator] = now_ms
        out.append(SendTo(validator, encode(Status(self.index, self.height))))

    def _on_sync_request(self, sender: int, request: SyncRequest, out: list[Action]) -> None:
        if not 0 <= request.sender < self.config.n or request.sender == self.index:
            return
        blocks = self.app.committed_blocks(request.from_height, self.config.sync_batch_blocks)
        if blocks:
            out.append(SendTo(request.sender, encode(SyncResponse(tuple(blocks)))))

    def _on_sync_response(self, response: SyncResponse, now_ms: int, out: list[Action]) -> None:
        for committed in response.blocks:
            if committed.block.header.height != self.height:
                continue
            if not self._certified(committed):
                return
            problem = self.app.check_block(committed.block)
            if problem is not None:
                log.warning(
                    "validator %d: synced block %d refused: %s", self.index, self.height, problem
                )
                return
            self._commit(committed, now_ms, out)
        if len(response.blocks) >= self.config.sync_batch_blocks:
            self._last_sync_request_ms = -(10**18)
            self._request_sync(self._any_peer(), now_ms, out)

    def _certified(self, committed: CommittedBlock) -> bool:
        qc = committed.qc
        if qc.height != self.height or qc.block_hash != committed.block.hash:
            return False
        problem = qc_problem(
            qc, self.config.chain_id, self.config.validators, self.config.quorum, self._verify
        )
        return problem is None

    def _any_peer(self) -> int:
        return (self.index + 1) % self.config.n

    # ------------------------------------------------------------------ rounds

    def _start_round(self, round_: int, now_ms: int, out: list[Action]) -> None:
        h = self._h
        h.round = round_
        h.step = Step.PROPOSE
        h.own_messages = []
        h.waiting_to_propose = False
        if round_ == 0:
            h.started_ms = now_ms
        else:
            h.active = False
            self._activate(out)
        if self.proposer(round_) == self.index:
            self._propose(now_ms, out)

    def _activate(self, out: list[Action]) -> None:
        """Start the round's propose timer once there is something to decide."""
        h = self._h
        if h.active:
            return
        if h.round == 0 and not (self.app.has_pending_events() or h.round_senders):
            return
        h.active = True
        delay = self.config.timeout_ms(self.config.timeout_propose_ms, h.round)
        out.append(ScheduleTimeout(Timeout(Step.PROPOSE, self.height, h.round), delay))

    def _propose(self, now_ms: int, out: list[Action]) -> None:
        h = self._h
        if not self._may_sign():
            return
        if h.valid_round >= 0:
            block = h.blocks[h.valid_hash]
        else:
            if h.round == 0 and not self._block_due(now_ms, out):
                h.waiting_to_propose = True
                return
            head = self.app.head()
            time_ms = max(now_ms, head.time_ms + 1)
            due_ms = self.app.next_due_ms()
            # Due by this proposer's clock, not by the block time: that is the head's time + 1
            # when the head is ahead of the clock, and an item due then is not due yet.
            allow_empty = h.round > 0 or (due_ms is not None and due_ms <= now_ms)
            built = self.app.build_block(self.height, h.round, self.index, time_ms, allow_empty)
            if built is None:
                h.waiting_to_propose = True
                self._wake_when_due(due_ms, now_ms, out)
                return
            block = built
            h.validity[block.hash] = True
        h.waiting_to_propose = False
        proposal = Proposal(self.height, h.round, h.valid_round, block)
        body = encode(proposal)
        signed_as = self._sign(Domain.PROPOSAL, body, b"")
        if signed_as is None or signed_as[0] != body:
            return
        signed = SignedProposal(body, signed_as[1])
        h.proposals[h.round] = (proposal, signed)
        h.blocks[block.hash] = block
        self._say(encode(signed), out)
        if h.valid_round >= 0:
            # Peers accept a re-proposed block only with 2f+1 prevotes for it at pol_round; one
            # that restarted or missed them would never have them, so they travel along (found
            # by the simulator: locked and unlocked validators otherwise disagree forever).
            polka = h.tallies[(VoteKind.PREVOTE, h.valid_round)][h.valid_hash]
            for voter, signature in polka.items():
                vote = Vote(VoteKind.PREVOTE, self.height, h.valid_round, h.valid_hash, voter)
                self._say(encode(SignedVote(encode(vote), signature)), out)

    def _block_due(self, now_ms: int, out: list[Action]) -> bool:
        """Whether a round-0 proposer should stop letting its block fill (or has nothing to
        fill it with); if not, the timer that ends the wait is set (once)."""
        h = self._h
        # Bounded by the wait itself, should the clock have stepped back since the height began.
        wait_ms = self.config.block_time_ms
        remaining_ms = min(h.started_ms + wait_ms - now_ms, wait_ms)
        if remaining_ms <= 0 or not self.app.has_pending_events() or self.app.has_full_block():
            return True
        if ("fill", 0) not in h.fired:
            h.fired.add(("fill", 0))
            out.append(ScheduleTimeout(Timeout(Step.FILL, self.height, 0), remaining_ms))
        return False

    def _wake_when_due(self, due_ms: int | None, now_ms: int, out: list[Action]) -> None:
        """Arm the timer that wakes this idle round-0 proposer at the state's next due time,
        one at a time: with no events nothing else would make it propose, and a deadline on an
        idle ledger would wait for unrelated traffic (rule 7 of docs/consensus.md)."""
        h = self._h
        if h.round != 0 or due_ms is None or ("due", 0) in h.fired:
            return
        h.fired.add(("due", 0))
        out.append(ScheduleTimeout(Timeout(Step.DUE, self.height, 0), max(due_ms - now_ms, 1)))

    def _vote(
        self, kind: VoteKind, block_hash: bytes, out: list[Action], proof: bytes = b""
    ) -> None:
        body = encode(Vote(kind, self.height, self._h.round, block_hash, self.index))
        signed_as = self._sign(VOTE_DOMAIN[kind], body, proof) if self._may_sign() else None
        if signed_as is not None:
            # Possibly the vote this validator cast here before it restarted: say that again.
            signed = SignedVote(*signed_as)
            self._add_vote(decode_vote(signed.body), signed)
            self._say(encode(signed), out)
        if ("resend", self._h.round) not in self._h.fired:
            self._h.fired.add(("resend", self._h.round))
            resend = Timeout(Step.RESEND, self.height, self._h.round)
            out.append(ScheduleTimeout(resend, self._resend_delay_ms()))

    def _may_sign(self) -> bool:
        return self._watch is None or self._watch.may_sign

    def _resend_delay_ms(self) -> int:
        """Longer than a round takes when messages arrive, so a healthy round never resends."""
        return self.config.timeout_ms(2 * self.config.timeout_vote_ms, self._h.round)

    def _say(self, payload: bytes, out: list[Action]) -> None:
        self._h.own_messages.append(payload)
        out.append(Broadcast(payload))

    # --------------------------------------------------------- the upon rules

    def _progress(self, now_ms: int, out: list[Action]) -> None:
        """Apply every rule whose condition holds, until none does."""
        changed = True
        while changed:
            height = self.height
            changed = (
                self._try_commit(now_ms, out)
                or self._try_skip_round(now_ms, out)
                or self._try_prevote(now_ms, out)
                or self._try_lock(now_ms, out)
                or self._try_precommit_nil(out)
                or self._try_schedule_vote_timeouts(out)
            )
            if self.height != height:
                changed = self._replay_future(now_ms, out) or True

    def _try_commit(self, now_ms: int, out: list[Action]) -> bool:
        h = self._h
        for (kind, round_), tally in h.tallies.items():
            if kind is not VoteKind.PRECOMMIT:
                continue
            for block_hash, signatures in tally.items():
                if block_hash == NIL or len(signatures) < self.config.quorum:
                    continue
                if block_hash not in h.blocks:
                    self._request_sync(next(iter(signatures)), now_ms, out)
                    continue
                if not self._valid(block_hash, now_ms):
                    continue
                qc = make_qc(self.height, round_, block_hash, signatures)
                self._commit(CommittedBlock(h.blocks[block_hash], qc), now_ms, out)
                return True
        return False

    def _try_skip_round(self, now_ms: int, out: list[Action]) -> bool:
        """Join the highest round r' > round that f+1 validators have reached, counting a
        validator heard from in any round at or above r' (it passed r' to get there). Counting
        per round only, validators scattered over rounds 0, 1 and 2 each saw one peer ahead and
        none moved (found by the simulator after crashes)."""
        h = self._h
        reached: set[int] = set()
        for round_ in sorted((r for r in h.round_senders if r > h.round), reverse=True):
            reached |= h.round_senders[round_]
            if len(reached) >= self.config.f + 1:
                self._start_round(round_, now_ms, out)
                return True
        return False

    def _try_prevote(self, now_ms: int, out: list[Action]) -> bool:
        h = self._h
        entry = h.proposals.get(h.round)
        if h.step is not Step.PROPOSE or entry is None:
            return False
        proposal = entry[0]
        block_hash = proposal.block.hash
        if proposal.pol_round == -1:
            acceptable = h.locked_round == -1 or h.locked_hash == block_hash
        elif self._count(VoteKind.PREVOTE, proposal.pol_round, block_hash) >= self.config.quorum:
            acceptable = h.locked_round <= proposal.pol_round or h.locked_hash == block_hash
        else:
            return False
        fresh = proposal.pol_round == -1
        ok = acceptable and self._valid(block_hash, now_ms, check_time=fresh)
        self._vote(VoteKind.PREVOTE, block_hash if ok else NIL, out)
        h.step = Step.PREVOTE
        return True

    def _try_lock(self, now_ms: int, out: list[Action]) -> bool:
        h = self._h
        entry = h.proposals.get(h.round)
        if entry is None or h.step < Step.PREVOTE or ("lock", h.round) in h.fired:
            return False
        block_hash = entry[0].block.hash
        if self._count(VoteKind.PREVOTE, h.round, block_hash) < self.config.quorum:
            return False
        if not self._valid(block_hash, now_ms):
            return False
        h.fired.add(("lock", h.round))
        if h.step is Step.PREVOTE:
            h.locked_round, h.locked_hash = h.round, block_hash
            polka = h.tallies[(VoteKind.PREVOTE, h.round)][block_hash]
            prevotes = tuple(VoteSignature(v, sig) for v, sig in sorted(polka.items()))
            proof = encode(LockProof(h.round, h.blocks[block_hash], prevotes))
            self._vote(VoteKind.PRECOMMIT, block_hash, out, proof)
            h.step = Step.PRECOMMIT
        h.valid_round, h.valid_hash = h.round, block_hash
        return True

    def _try_precommit_nil(self, out: list[Action]) -> bool:
        h = self._h
        if h.step is not Step.PREVOTE:
            return False
        if self._count(VoteKind.PREVOTE, h.round, NIL) < self.config.quorum:
            return False
        self._vote(VoteKind.PRECOMMIT, NIL, out)
        h.step = Step.PRECOMMIT
        return True

    def _try_schedule_vote_timeouts(self, out: list[Action]) -> bool:
        h = self._h
        scheduled = False
        for kind, step in ((VoteKind.PREVOTE, Step.PREVOTE), (VoteKind.PRECOMMIT, Step.PRECOMMIT)):
            marker = (kind.name, h.round)
            if marker in h.fired or h.step < step:
                continue
            if len(h.votes.get((kind, h.round), {})) < self.config.quorum:
                continue
            h.fired.add(marker)
            delay = self.config.timeout_ms(self.config.timeout_vote_ms, h.round)
            out.append(ScheduleTimeout(Timeout(step, self.height, h.round), delay))
            scheduled = True
        return scheduled

    # ----------------------------------------------------------------- helpers

    def _count(self, kind: VoteKind, round_: int, block_hash: bytes) -> int:
        return len(self._h.tallies.get((kind, round_), {}).get(block_hash, ()))

    def _valid(self, block_hash: bytes, now_ms: int, check_time: bool = False) -> bool:
        """Execute-and-compare once per block; the block time bounds only for fresh proposals."""
        h = self._h
        block = h.blocks[block_hash]
        if check_time and not self.config.timely(block.header.time_ms, now_ms, h.round):
            log.info(
                "validator %d: block time %d is not timely at %d (round %d)",
                self.index,
                block.header.time_ms,
                now_ms,
                h.round,
            )
            return False
        known = h.validity.get(block_hash)
        if known is None:
            problem = self.app.check_block(block)
            if problem is not None:
                log.info(
                    "validator %d: proposal at height %d refused: %s",
                    self.index,
                    self.height,
                    problem,
                )
            known = h.validity[block_hash] = problem is None
        return known

    def _commit(self, committed: CommittedBlock, now_ms: int, out: list[Action]) -> None:
        self.app.commit(committed)
        self._proposers.committed(committed.block.header.proposer)
        if self._watch is not None:
            self._watch.committed(committed)
            if self._watch.over:
                self._watch = None
        self.height = committed.block.header.height + 1
        self._h = _Height()
        self._start_round(0, now_ms, out)
        self._activate(out)

    def _replay_future(self, now_ms: int, out: list[Action]) -> bool:
        pending, self._future = self._future, []
        for message in pending:
            if isinstance(message, SignedProposal):
                self._on_proposal(message, None, now_ms, out)
            elif isinstance(message, SignedVote):
                self._on_vote(message, now_ms, out)
        return bool(pending)
