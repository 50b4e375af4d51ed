"""`backend outbox …` commands (registered with @command_group): see, re-queue and deliver
messages (`work`: a delivery worker process; run as many as the load needs).

Listings show no payload or recipient: those hold personal data.
"""

from __future__ import annotations

import argparse

from backend.commands import CommandError, command_group
from backend.db import check_connection, get_engine, get_session_factory, session_scope


def _factory():
    check_connection(get_engine())
    return get_session_factory()


@command_group
def _outbox(sub: argparse._SubParsersAction) -> None:
    from backend.outbox.queue import STATUSES

    outbox = sub.add_parser("outbox", help="outbox: CRM pushes and messages waiting or sent")
    cmds = outbox.add_subparsers(dest="outbox_cmd", required=True)
    listing = cmds.add_parser("list", help="newest messages first (no personal data shown)")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--kind", help="crm, email, sms, whatsapp, …")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=_list)
    retry = cmds.add_parser("retry", help="re-queue dead or blocked messages")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID")
    retry.add_argument(
        "--all-dead", action="store_true", help="every dead message (after fixing the cause)"
    )
    retry.add_argument("--kind", help="with --all-dead: only this kind")
    retry.set_defaults(handler=_retry)
    work = cmds.add_parser(
        "work", help="deliver due messages until stopped (SIGTERM/Ctrl-C finishes the batch)"
    )
    work.add_argument("--kinds", help="comma-separated lanes (default: every kind)")
    work.add_argument(
        "--until-empty", action="store_true", help="exit once no message is pending or sending"
    )
    work.set_defaults(handler=_work)


def _list(args) -> int:
    from backend.outbox import queue as outbox

    if args.limit <= 0:
        raise CommandError("--limit must be greater than 0")
    with session_scope(_factory()) as session:
        messages = outbox.list_messages(
            session, status=args.status, kind=args.kind, limit=args.limit
        )
        rows = [
            (
                m.id,
                m.kind,
                m.topic,
                m.status,
                m.attempts,
                f"{m.next_attempt_at:%Y-%m-%d %H:%M:%S}",
                m.provider_ref or "",
                m.last_error or "",
            )
            for m in messages
        ]
    if not rows:
        print("no outbox messages" + (f" with status {args.status}" if args.status else ""))
        return 0
    print("id\tkind\ttopic\tstatus\tattempts\tnext attempt (UTC)\tprovider ref\tlast error")
    for row in rows:
        print("\t".join(str(value) for value in row))
    return 0


def _retry(args) -> int:
    from sqlalchemy import select

    from backend.outbox import queue as outbox
    from backend.outbox.models import OutboxMessage

    if bool(args.ids) == bool(args.all_dead):
        raise CommandError("give message IDs or --all-dead (not both)")
    if args.kind and not args.all_dead:
        raise CommandError("--kind only goes with --all-dead")
    with session_scope(_factory()) as session:
        ids = args.ids
        if args.all_dead:
            query = select(OutboxMessage.id).where(OutboxMessage.status == outbox.DEAD)
            if args.kind:
                query = query.where(OutboxMessage.kind == args.kind)
            ids = list(session.execute(query.order_by(OutboxMessage.id)).scalars())
        try:
            for message_id in ids:
                outbox.requeue(session, message_id=message_id)
        except outbox.OutboxError as exc:
            raise CommandError(str(exc)) from None
    print(f"{len(ids)} message(s) queued again: " + (", ".join(map(str, ids)) or "none"))
    return 0


def _work(args) -> int:
    import json
    import signal
    import threading

    from backend.config import get_settings
    from backend.outbox import queue as outbox
    from backend.outbox.worker import work

    kinds = [kind.strip() for kind in (args.kinds or "").split(",") if kind.strip()] or None
    unknown = sorted(set(kinds or []) - set(outbox.registered_kinds()))
    if unknown:
        raise CommandError(
            f"unknown kind(s): {', '.join(unknown)}; known: {', '.join(outbox.registered_kinds())}"
        )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    totals = work(_factory(), get_settings(), kinds=kinds, until_empty=args.until_empty, stop=stop)
    print(json.dumps(totals, sort_keys=True))
    return 0
