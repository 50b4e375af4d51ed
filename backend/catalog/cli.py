"""`backend catalog …` commands (registered with @command_group)."""

from __future__ import annotations

import argparse
import sys

from backend.catalog import service
from backend.commands import CommandError, command_group
from backend.config import get_settings
from backend.db import get_session_factory, session_scope

MAX_PROBLEMS_SHOWN = 50


@command_group
def _catalog(sub: argparse._SubParsersAction) -> None:
    cat = sub.add_parser("catalog", help="product catalog: load, sync, versions, diff")
    cmds = cat.add_subparsers(dest="catalog_cmd", required=True)
    load = cmds.add_parser("load", help="validate and load a catalog file or URL (JSON or CSV)")
    load.add_argument(
        "source",
        nargs="?",
        default=str(service.SAMPLE_CATALOG),
        help="path, file:// or http(s):// URL (default: the bundled sample catalog)",
    )
    load.set_defaults(handler=_load)
    cmds.add_parser("sync", help="load CATALOG_URL (or the sample catalog)").set_defaults(
        handler=_sync
    )
    cmds.add_parser("versions", help="list catalog versions, newest first").set_defaults(
        handler=_versions
    )
    diff = cmds.add_parser("diff", help="products added, removed, changed between two versions")
    diff.add_argument("old", type=int)
    diff.add_argument("new", type=int)
    diff.set_defaults(handler=_diff)


def _run(load) -> int:
    """Run one load in its own transaction; print the outcome or every validation problem."""
    try:
        with session_scope(get_session_factory()) as session:
            before = service.latest_version(session)
            version = load(session)
            unchanged = before is not None and before.id == version.id
    except service.CatalogValidationError as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            print(f"  {problem}", file=sys.stderr)
        raise CommandError(f"{exc}; nothing was loaded") from None
    except service.CatalogError as exc:
        raise CommandError(f"{exc}; nothing was loaded") from None
    if unchanged:
        print(f"catalog unchanged (version {version.id}, {len(version.snapshot)} products)")
    else:
        print(
            f"catalog version {version.id}: {len(version.snapshot)} products, "
            f"{version.added} added, {version.changed} changed, {version.removed} removed"
        )
    return 0


def _load(args) -> int:
    return _run(lambda session: service.load_catalog(session, source=args.source))


def _sync(_args) -> int:
    settings = get_settings()
    return _run(lambda session: service.sync(session, settings=settings))


def _versions(_args) -> int:
    with session_scope(get_session_factory()) as session:
        versions = service.list_versions(session)
        for v in versions:
            print(
                f"{v.id:>5}  {v.created_at:%Y-%m-%d %H:%M}  {len(v.snapshot):>4} products  "
                f"+{v.added} ~{v.changed} -{v.removed}  {v.content_hash[:12]}  {v.source}"
            )
    if not versions:
        print("no catalog versions yet: run `backend catalog load`")
    return 0


def _diff(args) -> int:
    with session_scope(get_session_factory()) as session:
        try:
            diff = service.diff_versions(session, old_id=args.old, new_id=args.new)
        except service.CatalogError as exc:
            raise CommandError(str(exc)) from None
    for sku in diff["added"]:
        print(f"+ {sku}")
    for sku in diff["removed"]:
        print(f"- {sku}")
    for sku, fields in diff["changed"].items():
        for field, (old, new) in fields.items():
            print(f"~ {sku} {field}: {old!r} -> {new!r}")
    if not any(diff.values()):
        print("no differences")
    return 0
