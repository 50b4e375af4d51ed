"""The delivery worker loop: a database that cannot be reached does not end the process."""

from __future__ import annotations

import logging
import threading

from backend.config import load_settings
from backend.db import make_engine, make_session_factory
from backend.outbox.worker import work


def test_a_database_outage_is_logged_and_the_worker_keeps_polling(tmp_path, caplog):
    unreachable = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    engine = make_engine(unreachable, connect_args={"connect_timeout": 1})
    settings = load_settings(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "OUTBOX_POLL_SECONDS": "1"},
        dotenv=False,
    )
    stop = threading.Event()
    passes = []

    def count_failures(record):
        if record.getMessage() == "outbox worker pass failed":
            passes.append(record)
            if len(passes) == 2:
                stop.set()  # two failed passes seen: the loop went on after the first
        return True

    caplog.set_level(logging.ERROR, logger="backend.outbox")
    logging.getLogger("backend.outbox").addFilter(count_failures)
    try:
        worker = threading.Thread(
            target=work, args=(make_session_factory(engine), settings), kwargs={"stop": stop}
        )
        worker.start()
        worker.join(timeout=60)
    finally:
        logging.getLogger("backend.outbox").removeFilter(count_failures)
        stop.set()
        engine.dispose()
    assert not worker.is_alive()
    assert len(passes) == 2
    assert passes[0].fields == {"error": "OperationalError"}
