"""Sub-commands of `backend`, grouped by area. Each handler makes one service call."""

from __future__ import annotations

import argparse
import json
import sys

from backend.commands import CommandError, command_group
from backend.config import get_settings
from backend.db import check_connection, get_engine, get_session_factory, session_scope
from backend.supervisor import PROCESS_KINDS


def _engine_checked():
    engine = get_engine()
    check_connection(engine)
    return engine


# --- db ------------------------------------------------------------------------------
@command_group
def _db(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="database migrations").add_subparsers(
        dest="db_cmd", required=True
    )
    up = db.add_parser("upgrade", help="migrate the database to the latest revision")
    up.set_defaults(handler=_db_upgrade)
    check = db.add_parser("check", help="check that the database is reachable")
    check.set_defaults(handler=lambda a: (_engine_checked(), print("database ok"))[0] and 0)


def _db_upgrade(_args) -> int:
    from backend import migrations

    engine = _engine_checked()
    migrations.upgrade(engine)
    print(f"database at latest revision ({engine.url.render_as_string(hide_password=True)})")
    return 0


# --- ledger ----------------------------------------------------------------------------
@command_group
def _ledger(sub: argparse._SubParsersAction) -> None:
    led = sub.add_parser("ledger", help="hash-chained audit ledger").add_subparsers(
        dest="ledger_cmd", required=True
    )
    led.add_parser("verify", help="verify the hash chain").set_defaults(handler=_ledger_verify)


def _ledger_verify(_args) -> int:
    from backend import ledger

    _engine_checked()
    with session_scope(get_session_factory()) as session:
        report = ledger.verify(session)
    if report.ok:
        print(f"ledger ok: {report.checked} entries verified")
        return 0
    for p in report.problems:
        print(
            f"MISMATCH seq={p.seq} {p.entity_type}:{p.entity_id} {p.problem} "
            f"stored={p.stored_hash} computed={p.computed_hash}"
        )
    return 1


# --- servers ---------------------------------------------------------------------------
@command_group
def _servers(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the backend web app (shop page, admin API, webhooks)")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.set_defaults(handler=_serve)
    sched = sub.add_parser("scheduler", help="run the job scheduler in the foreground")
    sched.add_argument(
        "--only", default="", help="comma-separated job names to run (e.g. outbox: a worker)"
    )
    sched.set_defaults(handler=_scheduler)
    proc = sub.add_parser(
        "process", help="run one process kind as `up` starts it (one per container)"
    )
    proc.add_argument("kind", choices=PROCESS_KINDS)
    proc.set_defaults(handler=_process)
    up = sub.add_parser("up", help="start rasa, the action server, the web app and the scheduler")
    up.set_defaults(handler=_up)
    health = sub.add_parser("health", help="print the health of every dependency as JSON")
    health.set_defaults(handler=_health)


def _serve(args) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "backend.api.app:create_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        ws="none",  # websockets is pinned to 10.x by Rasa; the web app needs no websocket
    )
    return 0


def _scheduler(args) -> int:
    from backend.jobs.scheduler import run_forever

    only = frozenset(name.strip() for name in args.only.split(",") if name.strip())
    _engine_checked()
    try:
        run_forever(settings=get_settings(), session_factory=get_session_factory(), only=only)
    except KeyError as exc:
        raise CommandError(exc.args[0]) from None
    return 0


def _process(args) -> int:
    from backend.supervisor import exec_process

    exec_process(args.kind, get_settings())  # replaces this process; returns only on error
    return 1


def _up(_args) -> int:
    from backend.supervisor import run_all

    return run_all(get_settings())


def _health(_args) -> int:
    from backend.health import check_all

    report = check_all(settings=get_settings(), engine=get_engine())
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0 if report["status"] != "down" else 1


__all__ = ["CommandError"]


# --- jobs ------------------------------------------------------------------------------
@command_group
def _jobs(sub: argparse._SubParsersAction) -> None:
    jobs = sub.add_parser("jobs", help="scheduled backend jobs").add_subparsers(
        dest="jobs_cmd", required=True
    )
    jobs.add_parser("list", help="list registered jobs").set_defaults(handler=_jobs_list)
    run = jobs.add_parser("run", help="run one job now")
    run.add_argument("name")
    run.set_defaults(handler=_jobs_run)


def _jobs_list(_args) -> int:
    from backend.jobs.registry import load_jobs

    settings = get_settings()
    for name, spec in sorted(load_jobs().items()):
        print(f"{name:20} every {spec.every(settings)}  {spec.description}")
    return 0


def _jobs_run(args) -> int:
    from backend.jobs.registry import run_job

    _engine_checked()
    try:
        run = run_job(args.name, factory=get_session_factory(), settings=get_settings())
    except KeyError as exc:
        raise CommandError(exc.args[0]) from None
    print(
        json.dumps({"job": run.job, "status": run.status, "counts": run.counts, "error": run.error})
    )
    return 0 if run.status in ("ok", "skipped") else 1
