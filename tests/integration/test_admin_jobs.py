"""Admin API for every registered job: list, run now, last runs; roles, CSRF, access log."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from backend.api.app import create_app
from backend.auth.models import AccessLog
from backend.db import session_scope
from backend.jobs.models import JobRun
from tests.integration.test_dashboard import PASSWORD, bearer, login, make_keys

ROUTES = [
    ("get", "/api/admin/jobs/registered"),
    ("post", "/api/admin/jobs/ledger_verify/run"),
    ("get", "/api/admin/jobs/ledger_verify/runs"),
]


@pytest.fixture
def client(settings, session_factory):
    with TestClient(create_app(settings, session_factory)) as c:
        yield c


@pytest.fixture
def keys(session_factory):
    return make_keys(session_factory)


def stored(factory, model):
    with session_scope(factory) as s:
        return list(s.execute(select(model).order_by(model.id)).scalars())


def test_admin_lists_every_registered_job(client, keys, session_factory):
    response = client.get("/api/admin/jobs/registered", headers=bearer(keys["admin"]))
    assert response.status_code == 200
    jobs = {job["name"]: job for job in response.json()["jobs"]}
    assert {"audit_verify", "ledger_verify", "trend_ingest", "orders_expire"} <= set(jobs)
    assert jobs["ledger_verify"]["every_seconds"] == 86400
    assert jobs["ledger_verify"]["last_run"] is None
    (log,) = stored(session_factory, AccessLog)
    assert (log.actor, log.action, log.resource) == (
        "admin@shop.example",
        "list_jobs",
        "job registry",
    )


def test_run_now_records_the_run_and_the_access(client, keys, session_factory):
    response = client.post("/api/admin/jobs/audit_verify/run", headers=bearer(keys["admin"]))
    assert response.status_code == 200
    run = response.json()["run"]
    assert run["job"] == "audit_verify" and run["status"] == "ok"
    assert run["counts"]["mismatches"] == 0
    (row,) = stored(session_factory, JobRun)
    assert (row.id, row.job, row.status) == (run["id"], "audit_verify", "ok")
    (log,) = stored(session_factory, AccessLog)
    assert (log.action, log.resource) == ("run_job", "job audit_verify")

    runs = client.get("/api/admin/jobs/audit_verify/runs", headers=bearer(keys["admin"]))
    assert [r["id"] for r in runs.json()["runs"]] == [run["id"]]
    listed = client.get("/api/admin/jobs/registered", headers=bearer(keys["admin"])).json()
    (audit,) = [job for job in listed["jobs"] if job["name"] == "audit_verify"]
    assert audit["last_run"]["id"] == run["id"]


def test_unknown_and_malformed_job_names(client, keys, session_factory):
    admin = bearer(keys["admin"])
    assert client.post("/api/admin/jobs/no_such_job/run", headers=admin).status_code == 404
    assert client.get("/api/admin/jobs/no_such_job/runs", headers=admin).status_code == 404
    assert client.post("/api/admin/jobs/Bad-Name/run", headers=admin).status_code == 422
    assert client.post(f"/api/admin/jobs/{'a' * 61}/run", headers=admin).status_code == 422
    assert stored(session_factory, JobRun) == []


@pytest.mark.parametrize("role", ["compliance", "sales", "executive"])
def test_only_admins_may_list_run_or_read_jobs(client, keys, session_factory, role):
    for method, path in ROUTES:
        response = getattr(client, method)(path, headers=bearer(keys[role]))
        assert response.status_code == 403, path
        assert response.json() == {"error": f"your role ({role}) cannot run or read jobs"}
    assert stored(session_factory, JobRun) == [] and stored(session_factory, AccessLog) == []


def test_without_credentials_is_401(client):
    for method, path in ROUTES:
        assert getattr(client, method)(path).status_code == 401


def test_cookie_session_needs_the_csrf_token(client, keys, session_factory):
    assert login(client, "admin@shop.example", PASSWORD).status_code == 303
    assert client.post("/api/admin/jobs/ledger_verify/run").status_code == 403
    page = client.get("/dashboard/jobs")
    assert page.status_code == 200 and "Run now" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert stored(session_factory, JobRun) == []

    done = client.post(
        "/dashboard/jobs/ledger_verify/run", data={"csrf": token}, follow_redirects=False
    )
    assert done.status_code == 303
    (row,) = stored(session_factory, JobRun)
    assert done.headers["location"] == f"/dashboard/jobs?ran={row.id}"
    shown = client.get(done.headers["location"]).text
    assert re.search(r'id="ran">Ran <strong>ledger_verify</strong>', shown)
    assert client.post("/dashboard/jobs/ledger_verify/run", data={"csrf": "x"}).status_code == 400
    api = client.post("/api/admin/jobs/ledger_verify/run", headers={"X-CSRF-Token": token})
    assert api.status_code == 200 and api.json()["run"]["status"] == "ok"


def test_new_routes_are_in_the_openapi_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    for _, path in ROUTES:
        assert path.replace("ledger_verify", "{name}") in paths
