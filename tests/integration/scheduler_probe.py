"""A scheduler process with one extra singleton job, "probe", for the scheduler crash test.

`python -m tests.integration.scheduler_probe`: the real scheduler (backend/jobs/scheduler.py)
running only "probe" every PROBE_EVERY seconds; the job sleeps PROBE_SLEEP seconds (a long job
to kill mid-run, or an instant one). Not a test module.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from backend.config import get_settings
from backend.db import get_session_factory
from backend.jobs import registry
from backend.jobs.scheduler import run_forever


def probe(session, settings) -> dict:
    time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))
    return {"slept": int(float(os.environ.get("PROBE_SLEEP", "0")))}


def main() -> None:
    registry.load_jobs()  # wire everything first, then keep only the probe
    registry.REGISTRY.clear()
    every = timedelta(seconds=float(os.environ.get("PROBE_EVERY", "2")))
    registry.job("probe", every=lambda _s: every, description="crash test probe")(probe)
    run_forever(settings=get_settings(), session_factory=get_session_factory())


if __name__ == "__main__":
    main()
