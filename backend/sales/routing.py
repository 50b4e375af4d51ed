"""Routing of new leads: the priority and the time to first human reply, by kind.

This table is the one place these targets live: `create_lead` stamps them on every new lead,
`reopen` restarts the clock with them, and the `sla_check` job raises an incident when a lead is
still waiting (new or assigned) after its deadline.

| kind          | priority | first reply within | why                                            |
| ------------- | -------- | ------------------ | ---------------------------------------------- |
| emergency     | urgent   | 15 minutes         | safety: someone reported an emergency          |
| sensitive     | high     | 1 hour             | medical-advice question, answered by a person |
| handoff       | high     | 1 hour             | the customer asked for a human                 |
| high_intent   | normal   | 4 hours            | buying signals; nobody is waiting in the chat  |
| callback      | normal   | 24 hours           | the customer chose a time for the call         |
| anything else | normal   | 24 hours           |                                                |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

PRIORITIES = ("low", "normal", "high", "urgent")


@dataclass(frozen=True)
class Route:
    priority: str
    first_reply_within: timedelta


ROUTES: dict[str, Route] = {
    "emergency": Route("urgent", timedelta(minutes=15)),
    "sensitive": Route("high", timedelta(hours=1)),
    "handoff": Route("high", timedelta(hours=1)),
    "high_intent": Route("normal", timedelta(hours=4)),
    "callback": Route("normal", timedelta(hours=24)),
}
DEFAULT_ROUTE = Route("normal", timedelta(hours=24))


def route_for(kind: str) -> Route:
    """Priority and SLA of a lead of this kind (unknown kinds get the default)."""
    return ROUTES.get(kind, DEFAULT_ROUTE)
