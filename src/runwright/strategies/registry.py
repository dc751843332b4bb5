"""Strategies by name."""

from __future__ import annotations

from runwright.strategies.base import Strategy
from runwright.strategies.blue_green import STRATEGY as BLUE_GREEN
from runwright.strategies.canary import STRATEGY as CANARY
from runwright.strategies.recreate import STRATEGY as RECREATE

STRATEGIES: dict[str, Strategy] = {s.name: s for s in (BLUE_GREEN, CANARY, RECREATE)}
