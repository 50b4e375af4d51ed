"""`backend contacts …` commands (registered with @command_group): data-subject requests
and opt-outs handled by staff, e.g. when a customer writes in by email."""

from __future__ import annotations

import argparse

from backend.commands import CommandError, command_group
from backend.config import get_settings
from backend.db import get_engine, get_session_factory, session_scope


@command_group
def _contacts(sub: argparse._SubParsersAction) -> None:
    contacts = sub.add_parser("contacts", help="contacts: access, erasure, opt-out")
    cmds = contacts.add_subparsers(dest="contacts_cmd", required=True)
    for name, handler, text in (
        ("show", _show, "what is stored about a contact (recorded as an access request)"),
        ("erase", _erase, "erase the person's data across all their records and chats"),
        ("opt-out", _opt_out, "withdraw marketing consent on every channel"),
        ("export", _export, "everything held about the person as JSON (--html: a page)"),
    ):
        cmd = cmds.add_parser(name, help=text)
        who = cmd.add_mutually_exclusive_group(required=True)
        who.add_argument("--email")
        who.add_argument("--phone", help="E.164, e.g. +14155550123")
        cmd.set_defaults(handler=handler)
        if name == "export":
            cmd.add_argument("--html", action="store_true", help="a readable HTML page")
            cmd.add_argument("--out", help="write to this file instead of stdout")
    cmds.add_parser(
        "merge-duplicates", help="fold records with the same email/phone into one per person"
    ).set_defaults(handler=_merge)
    cmds.add_parser(
        "finish-erasures", help="delete chat tracker rows of erasures requested in chat"
    ).set_defaults(handler=_finish)


def _contact(session, args):
    from backend.contacts.service import find_contact

    contact = find_contact(session, email=args.email, phone_e164=args.phone)
    if contact is None:
        raise CommandError("no contact with that email/phone (or it was erased)")
    return contact


def _show(args) -> int:
    from backend.contacts import service

    with session_scope(get_session_factory()) as session:
        contact = _contact(session, args)
        sender = service.sender_for_contact(session, contact_id=contact.id)
        if sender is None:
            raise CommandError("the contact has no chat conversation to report on")
        summary = service.access_summary(session, sender_id=sender)
    print(f"contact {contact.public_id}")
    for field in ("name", "email", "phone_e164", "wellness_goal", "interactions", "orders"):
        print(f"  {field}: {getattr(summary, field)}")
    for key, granted in summary.consents.items():
        print(f"  consent {key}: {'granted' if granted else 'withdrawn'}")
    return 0


def _erase(args) -> int:
    from backend.contacts import rights
    from backend.privacy.registry import scrub_storage

    settings = get_settings()
    with session_scope(get_session_factory()) as session:
        contact = _contact(session, args)
        result = rights.erase(
            session,
            contact=contact,
            key=settings.pseudonym_key,
            version=settings.privacy_policy_version,
            source="staff",
        )
        public_id = contact.public_id
    scrub_storage(get_engine())
    print(
        f"erased contact {public_id}: request {result.request_id}, {result.contacts} records, "
        f"{result.conversations} chats, {result.rows.get('events', 0)} chat tracker rows deleted"
    )
    return 0


def _export(args) -> int:
    import json
    from pathlib import Path

    from backend.contacts import rights

    with session_scope(get_session_factory()) as session:
        data = rights.export(session, contact=_contact(session, args), requested_by="staff")
    text = rights.export_html(data) if args.html else json.dumps(data, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"export written to {args.out} (request {data['request_id']})")
    else:
        print(text)
    return 0


def _merge(args) -> int:
    from backend.contacts.identity import merge_duplicates

    with session_scope(get_session_factory()) as session:
        merged = merge_duplicates(session)
    print(f"{merged} duplicate records merged")
    return 0


def _opt_out(args) -> int:
    from backend.contacts import service

    settings = get_settings()
    with session_scope(get_session_factory()) as session:
        contact = _contact(session, args)
        events = service.withdraw_marketing(
            session,
            contact=contact,
            source="api",
            version=settings.privacy_policy_version,
            wording="Stop all marketing messages (request handled by staff).",
        )
    print(f"marketing withdrawn on {len(events)} channels for contact {contact.public_id}")
    return 0


def _finish(args) -> int:
    from backend.contacts.service import finish_tracker_erasures

    with session_scope(get_session_factory()) as session:
        counts = finish_tracker_erasures(session)
    print(f"{counts['requests']} erasure requests finished, {counts['tracker_rows']} rows deleted")
    return 0
