"""`backend trends …` commands (registered with @command_group)."""

from __future__ import annotations

import argparse
from datetime import timedelta

from backend.commands import command_group
from backend.config import get_settings
from backend.db import get_session_factory, session_scope, utcnow
from backend.trends import service
from backend.trends.bootstrap import build_sources


@command_group
def _trends(sub: argparse._SubParsersAction) -> None:
    trends = sub.add_parser("trends", help="social and news trends: ingest, list, sources")
    cmds = trends.add_subparsers(dest="trends_cmd", required=True)
    cmds.add_parser("ingest", help="fetch all sources now and score the trends").set_defaults(
        handler=_ingest
    )
    listing = cmds.add_parser("list", help="current top trends with their matched products")
    listing.add_argument("--goal", help="weight_loss, blood_pressure, diabetes or anti_aging")
    listing.add_argument("--limit", type=int, default=10)
    listing.set_defaults(handler=_list)
    cmds.add_parser(
        "sources", help="which sources are configured, and their last outcome"
    ).set_defaults(handler=_sources)


def _ingest(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        sources = build_sources(get_settings(), session=session)
        result = service.ingest(
            session,
            sources=sources,
            now=utcnow(),
            release=session.commit,
            keep_history=timedelta(days=get_settings().trend_history_days),
        )
    for r in result.sources:
        print(
            f"{r.source:10} {r.label:40} signals={r.signals} stored={r.stored} matches={r.matches}"
        )
        if r.detail and r.status not in (service.FAILED,):
            print(f"{'':10} {r.detail}")
    print(
        f"{result.trends_stored} trends, {result.matches_stored} matches stored; "
        f"{result.irrelevant} signals matched nothing; {result.pruned} old trends pruned"
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        trends = service.top_trends(session, goal=args.goal, limit=args.limit, now=utcnow())
    if not trends:
        print("no current trends (run `backend trends ingest`)")
        return 0
    for t in trends:
        print(f"{t['score']:.3f}  {t['topic']}  [{t['source']}]  {t['url'] or ''}")
        for p in t["products"][:3]:
            print(f"        {p['sku']:8} {p['name']}: {p['explanation']}")
    return 0


def _sources(args: argparse.Namespace) -> int:
    with session_scope(get_session_factory()) as session:
        rows = service.source_overview(session, sources=build_sources(get_settings()))
    for row in rows:
        state = "configured" if row["configured"] else f"not configured ({row['missing']})"
        last = row["last_status"] or "never run"
        if row["retry_at"]:
            last += f", retry after {row['retry_at'].strftime('%Y-%m-%d %H:%M UTC')}"
        print(f"{row['source']:10} {state:55} last: {last}")
    return 0
