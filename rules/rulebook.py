"""The rule book every validator runs: the union of all workflows' rules."""

from __future__ import annotations

from rules import payments
from rules.engine import RuleBook

RULEBOOK: RuleBook = {**payments.RULES}
