"""Jobs that belong to no single area."""

from __future__ import annotations

from datetime import timedelta

from backend import ledger
from backend.incidents import Incident
from backend.jobs.registry import job


@job(
    "ledger_verify",
    every=lambda s: timedelta(hours=24),
    description="verify the audit ledger hash chain",
)
def ledger_verify(session, settings) -> dict:
    report = ledger.verify(session)
    for problem in report.problems[:100]:
        session.add(
            Incident(
                kind="ledger_mismatch",
                severity="critical",
                entity_type=problem.entity_type,
                entity_id=problem.entity_id,
                detail={"seq": problem.seq, "problem": problem.problem},
            )
        )
    return {"checked": report.checked, "problems": len(report.problems)}
