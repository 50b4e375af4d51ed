"""`backend orders …` and `backend audit …` commands (registered with @command_group)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.commands import CommandError, command_group
from backend.config import get_settings
from backend.db import check_connection, get_engine, get_session_factory, session_scope


def _factory():
    check_connection(get_engine())
    return get_session_factory()


# --- orders ----------------------------------------------------------------------------
@command_group
def _orders(sub: argparse._SubParsersAction) -> None:
    orders = sub.add_parser("orders", help="orders, refunds").add_subparsers(
        dest="orders_cmd", required=True
    )
    refund = orders.add_parser(
        "refund", help="refund all or part of a paid order (issues a credit note)"
    )
    refund.add_argument("order", help="order public id")
    refund.add_argument("amount", help="amount in the order's currency, e.g. 12.50, or 'all'")
    refund.add_argument("--reason", required=True, help="why (printed on the credit note)")
    refund.set_defaults(handler=_refund)
    cancel = orders.add_parser("cancel", help="cancel an unpaid order and release its stock")
    cancel.add_argument("order")
    cancel.set_defaults(handler=_cancel)
    show = orders.add_parser("show", help="status of one order")
    show.add_argument("order")
    show.set_defaults(handler=_show)


def _refund(args) -> int:
    from backend.money import format_minor, to_minor
    from backend.orders import service
    from backend.orders.bootstrap import payment_provider

    settings = get_settings()
    try:
        with session_scope(_factory()) as session:
            order = service.get_order(session, args.order)
            amount = None if args.amount.lower() == "all" else to_minor(args.amount, order.currency)
            result = service.refund(
                session,
                settings=settings,
                payments=payment_provider(settings),
                public_id=args.order,
                amount_minor=amount,
                reason=args.reason,
            )
    except (service.OrderError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    print(
        f"refunded {format_minor(result.amount_minor, result.currency)}: credit note "
        f"{result.credit_note_number}, order now {result.order_status}"
    )
    return 0


def _cancel(args) -> int:
    from backend.orders import service

    try:
        with session_scope(_factory()) as session:
            view = service.cancel_order(session, public_id=args.order)
    except service.OrderError as exc:
        raise CommandError(str(exc)) from None
    print(f"order {view.public_id} {view.status_text}; stock released")
    return 0


def _show(args) -> int:
    from backend.money import format_minor
    from backend.orders import service

    with session_scope(_factory()) as session:
        views = service.order_status(session, public_id=args.order)
    if not views:
        raise CommandError(f"there is no order {args.order}")
    v = views[0]
    print(
        f"{v.public_id}  {v.status_text}  {format_minor(v.total_minor, v.currency)}  "
        f"created {v.created_at:%Y-%m-%d %H:%M} UTC"
    )
    return 0


# --- audit -----------------------------------------------------------------------------
@command_group
def _audit(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="auditor's tools").add_subparsers(
        dest="audit_cmd", required=True
    )
    verify = audit.add_parser(
        "verify", help="check the ledger chain, re-render every document, re-hash every consent"
    )
    verify.add_argument("--report", choices=("markdown", "csv"), default="markdown")
    verify.add_argument("--out", type=Path, help="write the report to this file instead of stdout")
    verify.add_argument(
        "--no-incidents", action="store_true", help="do not open incidents for mismatches"
    )
    verify.set_defaults(handler=_verify)
    vfile = audit.add_parser("verify-file", help="check a receipt PDF someone sent back")
    vfile.add_argument(
        "--receipt", required=True, metavar="ORDER", help="order public id or receipt number"
    )
    vfile.add_argument("file", type=Path)
    vfile.set_defaults(handler=_verify_file)
    export = audit.add_parser(
        "export", help="read-only export: ledger CSV, PDFs, manifest with hashes"
    )
    export.add_argument("directory", type=Path)
    export.set_defaults(handler=_export)


def _verify(args) -> int:
    from backend.orders import audit

    factory = _factory()
    with session_scope(factory) as session:
        report = audit.verify_all(session)
    opened = 0
    if report.mismatches and not args.no_incidents:
        with session_scope(factory) as session:
            opened = audit.open_incidents(session, report)
    text = audit.render_markdown(report) if args.report == "markdown" else audit.render_csv(report)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"report written to {args.out}")
    else:
        sys.stdout.write(text)
    summary = (
        "all verified"
        if report.ok
        else f"{len(report.mismatches)} mismatch(es), {opened} incident(s) opened"
    )
    print(f"audit: {report.ledger_entries} ledger entries; {summary}", file=sys.stderr)
    return 0 if report.ok else 1


def _verify_file(args) -> int:
    from backend.orders import audit

    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
    with session_scope(_factory()) as session:
        check = audit.verify_receipt_file(session, order_or_number=args.receipt, data=data)
    print(
        f"{'MATCH' if check.matches else 'NO MATCH'}: {check.message} "
        f"(file sha256 {check.file_hash})"
    )
    return 0 if check.matches else 1


def _export(args) -> int:
    from backend.orders import audit

    try:
        with session_scope(_factory()) as session:
            manifest = audit.export(session, directory=args.directory)
    except FileExistsError as exc:
        raise CommandError(f"{exc}; choose a new or empty directory") from None
    print(
        f"exported {manifest['ledger_entries']} ledger entries and "
        f"{len(manifest['files']) - 1} documents "
        f"to {args.directory} (manifest.json lists every file's sha256)"
    )
    return 0
