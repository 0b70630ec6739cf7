"""Deterministic simulation of a whole consortium under faults: ``python -m tests.sim``."""
