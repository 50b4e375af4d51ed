"""Jobs that belong to no single area."""

from __future__ import annotations

from datetime import timedelta

from backend import ledger
from backend.db import utcnow
from backend.incidents import Incident, raise_incident
from backend.jobs.registry import job, prune_runs


@job(
    "ledger_verify",
    every=lambda s: timedelta(hours=24),
    description="verify the audit ledger hash chain",
)
def ledger_verify(session, settings) -> dict:
    report = ledger.verify(session)
    for problem in report.problems[:100]:
        raise_incident(
            session,
            Incident(
                kind="ledger_mismatch",
                severity="critical",
                entity_type=problem.entity_type,
                entity_id=problem.entity_id,
                detail={"seq": problem.seq, "problem": problem.problem},
            ),
        )
    return {"checked": report.checked, "problems": len(report.problems)}


@job(
    "job_runs_retention",
    every=lambda s: timedelta(hours=24),
    description="delete job history older than JOB_RUNS_KEEP_DAYS",
)
def job_runs_retention(session, settings) -> dict:
    before = utcnow() - timedelta(days=settings.job_runs_keep_days)
    return {"deleted": prune_runs(session, before=before)}
