"""The outbox area: intents to call the outside world, written with their cause, delivered later.

backend/outbox/queue.py: `enqueue` (in the caller's transaction), `deliver_due` (claim, deliver,
record), statuses, Blocked/Deferred. Areas register a deliverer per kind in backend/bootstrap.py.
"""
