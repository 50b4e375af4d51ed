"""backend/bootstrap.py wires everything in one place, adapters once per process and settings."""

from __future__ import annotations

from backend import bootstrap
from backend.config import load_settings
from backend.crm.adapters import HubSpotCrm, LocalCrm
from backend.jobs.registry import load_jobs
from backend.outbox import queue as outbox


def test_adapters_are_built_once_per_settings():
    local = load_settings({}, dotenv=False)
    same = load_settings({}, dotenv=False)
    hubspot = load_settings({"HUBSPOT_ACCESS_TOKEN": "pat-na1-0123456789abcdef"}, dotenv=False)
    assert bootstrap.adapters(local).crm is bootstrap.adapters(same).crm
    assert bootstrap.adapters(local).email is bootstrap.adapters(local).email
    assert isinstance(bootstrap.adapters(local).crm, LocalCrm)
    assert isinstance(bootstrap.adapters(hubspot).crm, HubSpotCrm)


def test_every_kind_of_outbox_row_has_a_deliverer():
    assert set(outbox.registered_kinds()) >= {"crm", "email", "sms", "whatsapp"}


def test_jobs_routes_and_commands_come_from_the_wiring():
    assert set(load_jobs()) == {
        "action_replay_retention", "audit_verify", "catalog_sync", "erase_chat_trackers",
        "expire_unconsented_chats", "follow_ups", "job_runs_retention", "ledger_verify",
        "orders_expire", "outbox",
        "outbox_retention", "sla_check", "takeover_timeout", "training_scan", "trend_ingest",
    }  # fmt: skip
    paths = {route.path for router in bootstrap.routers() for route in router.routes}
    assert any(path.startswith("/api/orders") for path in paths)
    assert "/api/admin/jobs/{name}/run" in paths
    assert "/dashboard/training" in paths
    from backend.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"db", "jobs", "outbox", "contacts", "staff", "orders", "trends", "training"} <= set(
        commands
    )
