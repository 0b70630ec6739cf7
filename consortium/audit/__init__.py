"""Audit tooling: verify, replay as of a height or time, export, diff and prove a validator's log.

Everything here reads a data directory read-only and trusts nothing but the genesis in it (or
one given separately): hash chain, checksums, quorum certificates, event signatures and a full
re-execution are each checked, and the first failure is reported precisely.
"""
