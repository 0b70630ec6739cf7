"""The ruleset every validator runs: the union of all workflows' rules, tables and roles.

A workflow module provides ``RULES`` (event type -> rule), ``TABLES`` (table name -> row type)
``ROLES`` (roles an organisation admin may enrol) and ``BLOCK_HOOKS`` (run at the start of
every block, see ``Ruleset``); adding a workflow means adding its module
to ``WORKFLOWS``.
"""

from __future__ import annotations

from consortium.rules import (
    credit,
    insurance,
    payments,
    private_data,
    rebate,
    restitution,
    rotation,
    validators,
)
from consortium.rules.engine import Ruleset
from consortium.rules.tables import CORE_TABLES

WORKFLOWS = (payments, credit, rebate, insurance, restitution, private_data, rotation, validators)

RULESET = Ruleset(
    rules={t: r for m in WORKFLOWS for t, r in m.RULES.items()},
    schema={**CORE_TABLES, **{n: t for m in WORKFLOWS for n, t in m.TABLES.items()}},
    roles=frozenset(r for m in WORKFLOWS for r in m.ROLES),
    block_hooks=tuple(h for m in WORKFLOWS for h in m.BLOCK_HOOKS),
)
