"""`backend staff …`: staff users and API keys. Passwords and keys are printed at most once."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from backend.auth import service
from backend.auth.models import ROLES
from backend.commands import CommandError, command_group
from backend.config import get_settings
from backend.db import check_connection, get_engine, get_session_factory, session_scope


@command_group
def _staff(sub: argparse._SubParsersAction) -> None:
    staff = sub.add_parser("staff", help="staff users and API keys").add_subparsers(
        dest="staff_cmd", required=True
    )
    create = staff.add_parser("create", help="create a staff user")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    create.set_defaults(handler=_create)

    key = staff.add_parser("api-key", help="issue an API key (printed once)")
    key.add_argument("email")
    key.set_defaults(handler=_api_key)

    revoke = staff.add_parser("revoke-key", help="revoke an API key by its prefix")
    revoke.add_argument("prefix", help="the part after hts_ in the key, e.g. 1a2b3c4d")
    revoke.set_defaults(handler=_revoke_key)

    deactivate = staff.add_parser("deactivate", help="refuse logins and revoke the user's keys")
    deactivate.add_argument("email")
    deactivate.set_defaults(handler=_deactivate)

    staff.add_parser("list", help="list staff users").set_defaults(handler=_list)
    staff.add_parser(
        "ensure-admin", help="create ADMIN_EMAIL as admin when missing (idempotent)"
    ).set_defaults(handler=_ensure_admin)


def _session():
    check_connection(get_engine())
    return session_scope(get_session_factory())


def _create(args) -> int:
    password = _read_password(args)
    with _session() as session:
        try:
            staff = service.create_staff(
                session, email=args.email, name=args.name, role=args.role, password=password
            )
        except service.AuthError as exc:
            raise CommandError(str(exc)) from None
        print(f"created staff user #{staff.id} ({staff.role})")
    return 0


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if get_settings().admin_password:
        print("using ADMIN_PASSWORD from the environment", file=sys.stderr)
        return get_settings().admin_password
    if not sys.stdin.isatty():
        raise CommandError(
            "no password: use --password-stdin, set ADMIN_PASSWORD, or run in a terminal"
        )
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CommandError("the passwords differ")
    return first


def _api_key(args) -> int:
    with _session() as session:
        staff = service.find_staff(session, email=args.email)
        if staff is None:
            raise CommandError("no staff user with this email")
        try:
            key = service.issue_api_key(session, staff_id=staff.id)
        except service.AuthError as exc:
            raise CommandError(str(exc)) from None
    print(key)
    print(
        f"This key acts with role {staff.role!r}; it is shown only once. Send it as "
        "'Authorization: Bearer <key>'.",
        file=sys.stderr,
    )
    return 0


def _revoke_key(args) -> int:
    with _session() as session:
        try:
            service.revoke_api_key(session, prefix=args.prefix)
        except service.AuthError as exc:
            raise CommandError(str(exc)) from None
    print("key revoked")
    return 0


def _deactivate(args) -> int:
    with _session() as session:
        try:
            service.deactivate_staff(session, email=args.email)
        except service.AuthError as exc:
            raise CommandError(str(exc)) from None
    print("staff user deactivated; their API keys are revoked")
    return 0


def _list(_args) -> int:
    with _session() as session:
        users = service.list_staff(session)
        for u in users:
            state = "active" if u.active else "inactive"
            print(f"{u.id:4}  {u.role:11} {state:9} {u.email}  {u.name}")
    if not users:
        print("no staff users yet: run `backend staff ensure-admin` or `backend staff create`")
    return 0


def _ensure_admin(_args) -> int:
    settings = get_settings()
    password = settings.admin_password or secrets.token_urlsafe(15)
    with _session() as session:
        try:
            staff, created = service.ensure_admin(
                session, email=settings.admin_email, password=password
            )
        except service.AuthError as exc:
            raise CommandError(f"ADMIN_EMAIL/ADMIN_PASSWORD: {exc}") from None
    if not created:
        print(f"staff user {staff.email} already exists ({staff.role}); nothing changed")
    elif settings.admin_password:
        print(f"created admin {staff.email} with the password from ADMIN_PASSWORD")
    else:
        print(f"created admin {staff.email} with password: {password}")
        print("This password is shown only once and only its hash is stored. Log in at /login.")
    return 0
