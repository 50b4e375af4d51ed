"""Admin API for every registered job: list them, run one now, read its last runs; and the
dashboard's "Run now" buttons. Admins only; every call is written to the access log.

A run goes through `registry.run_job` exactly as the scheduler's: claimed (a run already under
way elsewhere answers "skipped"), in its own session, recorded as a job_runs row.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Query, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from backend.api.deps import session_dep, settings_dep
from backend.auth.models import StaffUser
from backend.auth.service import log_access
from backend.auth.web import StaffRoute, require_role
from backend.config import Settings
from backend.dashboard import csrf
from backend.dashboard.service import job_run, list_job_runs
from backend.jobs import registry

router = APIRouter(route_class=StaffRoute)
admins = require_role("admin", action="run or read jobs")
JobName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,59}$", description="a job's name")]


def _known(name: str) -> registry.Job:
    job = registry.load_jobs().get(name)
    if job is None:
        raise HTTPException(404, f"there is no job {name!r}")
    return job


def _log(session: Session, staff: StaffUser, action: str, resource: str) -> None:
    log_access(session, actor=staff.email, role=staff.role, action=action, resource=resource)


def run_now(request: Request, session: Session, settings: Settings, staff: StaffUser, name: str):
    """Log the request, release this request's transaction, run the job; its JobRun row."""
    _known(name)
    _log(session, staff, "run_job", f"job {name}")
    # Commit now: the log is kept whatever the job does, and SQLite's write lock (taken at
    # BEGIN) is released before the job opens its own sessions.
    session.commit()
    return registry.run_job(name, factory=request.app.state.session_factory, settings=settings)


@router.get("/api/admin/jobs/registered")
def registered_jobs_api(
    staff: StaffUser = Depends(admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Every registered job: name, what it does, how often the scheduler runs it, last run."""
    _log(session, staff, "list_jobs", "job registry")
    latest = {run["job"]: run for run in reversed(list_job_runs(session, limit=500))}
    return {
        "jobs": [
            {
                "name": job.name,
                "description": job.description,
                "every_seconds": int(job.every(settings).total_seconds()),
                "last_run": latest.get(job.name),
            }
            for job in sorted(registry.load_jobs().values(), key=lambda j: j.name)
        ]
    }


@router.post("/api/admin/jobs/{name}/run")
def run_job_api(
    name: JobName,
    request: Request,
    staff: StaffUser = Depends(admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
) -> dict:
    """Run the job now (as the scheduler would) and answer with its recorded run."""
    csrf.require_header(request, settings)
    return {"run": job_run(run_now(request, session, settings, staff, name))}


@router.get("/api/admin/jobs/{name}/runs")
def job_runs_api(
    name: JobName,
    limit: int = Query(20, ge=1, le=500),
    staff: StaffUser = Depends(admins),
    session: Session = Depends(session_dep),
) -> dict:
    """The job's latest runs, newest first."""
    _known(name)
    _log(session, staff, "read_job_runs", f"job {name}")
    return {"runs": list_job_runs(session, job=name, limit=limit)}


@router.post("/dashboard/jobs/{name}/run", include_in_schema=False)
def run_job_form(
    name: JobName,
    request: Request,
    csrf_token: str = Form("", alias="csrf"),
    staff: StaffUser = Depends(admins),
    session: Session = Depends(session_dep),
    settings: Settings = Depends(settings_dep),
):
    csrf.require_form(request, settings, csrf_token)
    run = run_now(request, session, settings, staff, name)
    return RedirectResponse(f"/dashboard/jobs?ran={run.id}", status_code=303)
