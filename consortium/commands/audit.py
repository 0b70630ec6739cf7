"""Audit commands: audit, replay, export, diff, prove, verify-proof, export-genesis."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from consortium.audit.diff import first_difference
from consortium.audit.export import export_lines
from consortium.audit.proofs import (
    check_proof,
    load_genesis,
    prove_consistency,
    prove_inclusion,
    read_proof,
    write_json,
)
from consortium.audit.replay_to import state_as_of
from consortium.audit.rows import row_dict
from consortium.audit.source import LogSource
from consortium.audit.verify import audit
from consortium.commands import CommandError, Commands, non_negative_int, positive_int
from consortium.commands.progress import ProgressLine
from consortium.events.codec import encode
from consortium.rules.tables import PROJECTIONS


def register(commands: Commands) -> None:
    _audit(commands)
    _replay(commands)
    _export(commands)
    _diff(commands)
    _prove(commands)
    _verify_proof(commands)
    _export_genesis(commands)


def _parser(commands: Commands, name: str, help_: str, epilog: str) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=help_,
        description=help_[0].upper() + help_[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _audit(commands: Commands) -> None:
    p = _parser(
        commands,
        "audit",
        "verify a validator's log: hash chain, checksums, every QC and signature, re-execution",
        "example: consortium audit ./demo-data/validator-0\n"
        "Audit a copy or a stopped validator: the directory is opened read-only.",
    )
    p.add_argument("dir", type=Path, help="one validator's data directory")
    p.add_argument(
        "--workers",
        "--threads",
        type=positive_int,
        dest="workers",
        help="signature-checking processes (default: one per core; 1: check inline)",
    )
    p.set_defaults(run=_run_audit)


def _run_audit(args: argparse.Namespace) -> int:
    progress = ProgressLine("audited blocks")
    report = audit(args.dir, progress, args.workers)
    progress.end()
    print(
        f"blocks {report.blocks}, events {report.events}, signatures {report.signatures}, "
        f"quorum certificates {report.quorum_certificates}"
    )
    where = f"by {report.workers} worker processes" if report.workers > 1 else "in this process"
    print(
        f"time {report.seconds:.2f} s, {report.events_per_s:,.0f} events/s "
        f"(signatures verified {where})"
    )
    if report.ok:
        print(f"OK: every check holds; state digest at the head {report.head_state_digest.hex()}")
        return 0
    if report.divergence is not None:
        print(f"FAILED at {report.divergence.describe()}")
    if report.findings:
        print("FAILED: the stored databases do not hold what the blocks say:")
        for line in report.findings.lines():
            print(f"  {line}")
    print(
        "A validator with this directory refuses to start or rebuilds its state; restore it "
        "from a backup or let it resync from its peers"
    )
    return 1


def _replay(commands: Commands) -> None:
    p = _parser(
        commands,
        "replay",
        "rebuild the projections as of a height or a ledger time",
        "examples:\n  consortium replay ./demo-data/validator-0 --height 10\n"
        "  consortium replay ./demo-data/validator-0 --time 1767225600000 --json",
    )
    p.add_argument("dir", type=Path, help="one validator's data directory")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--height", type=non_negative_int, help="last block to apply (default: all)")
    when.add_argument("--time", type=non_negative_int, help="ledger time in ms since the epoch")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(run=_run_replay)


def _run_replay(args: argparse.Namespace) -> int:
    progress = ProgressLine("replayed blocks")
    try:
        state, height = state_as_of(args.dir, args.height, args.time, progress)
    finally:
        progress.end()
    tables = {
        name: [{"key": k.hex(), **row_dict(v)} for k, v in state.rows(name)] for name in PROJECTIONS
    }
    if args.json:
        print(json.dumps({"height": height, **tables}, indent=2, sort_keys=True))
        return 0
    print(f"projections at height {height}")
    for name, rows in tables.items():
        print(f"\n{name} ({len(rows)})")
        for row in rows:
            print("  " + ", ".join(f"{k}={_short(v)}" for k, v in row.items() if k != "history"))
    return 0


def _short(value: object) -> str:
    text = str(value)
    return text[:16] + "…" if len(text) > 20 else text


def _export(commands: Commands) -> None:
    p = _parser(
        commands,
        "export",
        "print every event as a JSON line (body, signatures, height, result)",
        "example: consortium export ./demo-data/validator-0 > events.jsonl",
    )
    p.add_argument("dir", type=Path, help="one validator's data directory")
    p.set_defaults(run=_run_export)


def _run_export(args: argparse.Namespace) -> int:
    progress = ProgressLine("exported blocks")
    try:
        for line in export_lines(args.dir, progress):
            sys.stdout.write(line + "\n")
    finally:
        progress.end()
    return 0


def _diff(commands: Commands) -> None:
    p = _parser(
        commands,
        "diff",
        "compare two validators' logs and name the first difference",
        "example: consortium diff ./demo-data/validator-0 ./demo-data/validator-1",
    )
    p.add_argument("left", type=Path)
    p.add_argument("right", type=Path)
    p.set_defaults(run=_run_diff)


def _run_diff(args: argparse.Namespace) -> int:
    difference = first_difference(args.left, args.right)
    if difference is None:
        print("identical")
        return 0
    print(f"first difference: {difference}")
    return 1


def _prove(commands: Commands) -> None:
    p = _parser(
        commands,
        "prove",
        "write an inclusion proof for an event, or a consistency proof between two heights",
        "examples:\n  consortium prove ./demo-data/validator-0 EVENT_ID -o proof.json\n"
        "  consortium prove ./demo-data/validator-0 --consistency 5 40 -o proof.json",
    )
    p.add_argument("dir", type=Path, help="one validator's data directory")
    p.add_argument("event_id", nargs="?", help="hex id of the event to prove")
    p.add_argument(
        "--consistency",
        nargs=2,
        type=positive_int,
        metavar=("OLD", "NEW"),
        help="prove that the log at height NEW extends the log at height OLD",
    )
    p.add_argument("-o", "--output", type=Path, help="write the proof here (default: stdout)")
    p.set_defaults(run=_run_prove)


def _run_prove(args: argparse.Namespace) -> int:
    if args.consistency and args.event_id:
        raise CommandError("give an EVENT_ID or --consistency OLD NEW, not both")
    progress = ProgressLine("read blocks")
    try:
        if args.consistency:
            old, new = args.consistency
            proof = prove_consistency(args.dir, old, new, progress)
        elif args.event_id:
            proof = prove_inclusion(args.dir, _event_id(args.event_id), progress)
        else:
            raise CommandError("give an EVENT_ID or --consistency OLD NEW")
    finally:
        progress.end()
    text = _write(args.output, lambda path: write_json(proof, path))
    if args.output is None:
        print(text)
    return 0


def _event_id(text: str) -> bytes:
    try:
        eid = bytes.fromhex(text)
    except ValueError:
        eid = b""
    if len(eid) != 32:
        raise CommandError(
            f"EVENT_ID {text!r} is not 64 hex digits; take it from `consortium export DIR`"
        )
    return eid


def _write(path: Path | None, write: Callable[[Path | None], str]) -> str:
    """``write(path)``, with a failure to write ``path`` as a message saying what to give."""
    try:
        return write(path)
    except OSError as exc:
        raise CommandError(
            f"cannot write {path}: {exc.strerror or exc}; give -o a file in an existing, "
            "writable directory"
        ) from exc


def _verify_proof(commands: Commands) -> None:
    p = _parser(
        commands,
        "verify-proof",
        "check a proof offline with nothing but the genesis",
        "example: consortium verify-proof proof.json --genesis genesis.msgpack\n"
        "GENESIS is a file written by `consortium export-genesis` or a validator directory.",
    )
    p.add_argument("proof", type=Path)
    p.add_argument("--genesis", type=Path, required=True)
    p.set_defaults(run=_run_verify_proof)


def _run_verify_proof(args: argparse.Namespace) -> int:
    proof = read_proof(args.proof)
    problem = check_proof(proof, load_genesis(args.genesis))
    if problem is None:
        print(f"OK: the {proof['kind']} proof holds against a tree head signed by a quorum")
        return 0
    print(f"INVALID: {problem}")
    return 1


def _export_genesis(commands: Commands) -> None:
    p = _parser(
        commands,
        "export-genesis",
        "write the genesis stored in a log, for offline verification",
        "example: consortium export-genesis ./demo-data/validator-0 -o genesis.msgpack",
    )
    p.add_argument("dir", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.set_defaults(run=_run_export_genesis)


def _run_export_genesis(args: argparse.Namespace) -> int:
    with LogSource(args.dir) as source:
        genesis = encode(source.genesis)

    def write(path: Path | None) -> str:
        assert path is not None
        path.write_bytes(genesis)
        return str(path)

    print(f"wrote {_write(args.output, write)}")
    return 0
