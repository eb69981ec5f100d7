"""Counts what the contract suite sent, per operation and status, for its closing summary."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

REQUESTS: defaultdict[str, Counter[int]] = defaultdict(Counter)
STATEFUL: Counter[int] = Counter()
PEER_STATUSES: list[int] = []  # what the second user got for the owner's channel requests
PEER_LISTINGS: list[int] = []  # and for the owner's channel-list requests


def record(case: Any, response: Any, *, stateful: bool = False) -> None:
    (STATEFUL if stateful else REQUESTS[case.operation.label])[response.status_code] += 1


def record_peer(status: int, *, listing: bool = False) -> None:
    (PEER_LISTINGS if listing else PEER_STATUSES).append(status)
