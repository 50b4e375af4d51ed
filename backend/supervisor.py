"""Starts every process of the product on 127.0.0.1 and stops them all together.

Ctrl-C (or SIGTERM) stops every child; a child that exits on its own is reported by name
and the others are stopped, so nothing is left running silently.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from backend.config import ROOT, ConfigError, Settings


@dataclass
class Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen | None = None


def rasa_env(settings: Settings) -> dict[str, str]:
    """Environment for `rasa run`: tracker store on the backend's database, lock store choice."""
    env = dict(os.environ)
    # Rasa's SQL tracker store takes a full SQLAlchemy URL in `url`: same database as the backend.
    env["TRACKER_DB_URL"] = settings.database_url
    if settings.redis_url:
        r = urlsplit(settings.redis_url)
        env.update(
            LOCK_STORE_TYPE="backend.rasa_ext.lock_store.AtomicRedisLockStore",
            LOCK_REDIS_HOST=r.hostname or "127.0.0.1",
            LOCK_REDIS_PORT=str(r.port or 6379),
            LOCK_REDIS_DB=(r.path.lstrip("/") or "0"),
            LOCK_REDIS_PASSWORD=r.password or "",
        )
    else:
        env.update(
            LOCK_STORE_TYPE="in_memory",
            LOCK_REDIS_HOST="",
            LOCK_REDIS_PORT="6379",
            LOCK_REDIS_DB="0",
            LOCK_REDIS_PASSWORD="",
        )
    env["RASA_ACTION_ENDPOINT"] = settings.action_server_url.rstrip("/") + "/webhook"
    env["SANIC_HOST"] = settings.bind_host  # the action server's address (rasa_sdk reads it)
    # One TensorFlow thread per Rasa worker: the sentence encoder's one-message run takes 2.4 ms
    # on the calling thread and 3.1 ms spread over the default pool (whose hand-offs also steal
    # the other workers' core). Training (`make train`) keeps the default pool for its batches.
    env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    env["SANIC_WORKERS"] = str(settings.rasa_workers)  # rasa run
    env["ACTION_SERVER_SANIC_WORKERS"] = str(settings.action_workers)  # rasa_sdk
    return env


def public_origin(settings: Settings) -> str:
    """scheme://host[:port] of PUBLIC_BASE_URL: the only origin whose pages may call Rasa."""
    url = urlsplit(settings.public_base_url)
    return f"{url.scheme}://{url.netloc}"


def rasa_api_args(settings: Settings) -> list[str]:
    """Rasa's HTTP API always needs the token, and only the shop's own pages may call Rasa
    from a browser (CORS). Without RASA_TOKEN or CHAT_ID_SECRET nothing starts."""
    for name in ("rasa_token", "chat_id_secret"):
        if not getattr(settings, name):
            raise ConfigError(
                f"{name.upper()} is not set: run `make setup` (scripts/bootstrap.sh generates "
                "it into .env) or set it in the environment"
            )
    return ["--enable-api", "--auth-token", settings.rasa_token, "--cors", public_origin(settings)]


def processes(settings: Settings) -> list[Proc]:
    py = sys.executable
    rasa_port = str(urlsplit(settings.rasa_url).port or 5005)
    rasa_argv = [
        py,
        "-m",
        "backend.rasa_ext.speedups",  # `rasa …` with the speed patches (RASA_SPEEDUPS=0: without)
        "run",
        *rasa_api_args(settings),
        "-i",
        settings.bind_host,
        "-p",
        rasa_port,
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
        "--model",
        "models",
    ]
    return [
        Proc("rasa", rasa_argv),
        Proc(
            "actions",
            [
                py,
                "-m",
                "rasa_sdk",
                "--actions",
                "actions",
                "-p",
                str(urlsplit(settings.action_server_url).port or 5055),
            ],
        ),
        Proc("web", [py, "-m", "backend", "serve"]),
        Proc("scheduler", [py, "-m", "backend", "scheduler"]),
    ]


# What `backend process <kind>` runs: each process `up` starts, plus an outbox delivery worker
# (`backend outbox work`: any number of them can run, each claims its own rows under a lease).
PROCESS_KINDS = ("rasa", "actions", "web", "scheduler", "outbox")


def exec_process(kind: str, settings: Settings) -> None:
    """Replace this process with one process kind, with the environment `up` gives it (one
    kind per container: Dockerfile, compose.yaml)."""
    table = {p.name: p.argv for p in processes(settings)}
    table["outbox"] = [sys.executable, "-m", "backend", "outbox", "work"]
    argv = table[kind]
    os.chdir(ROOT)  # endpoints.yml, credentials.yml, models/ and actions/ are relative
    os.execve(argv[0], argv, rasa_env(settings))  # noqa: S606 - fixed argv


def run_all(settings: Settings, procs: list[Proc] | None = None) -> int:
    procs = procs if procs is not None else processes(settings)
    env = rasa_env(settings)
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.popen = subprocess.Popen(p.argv, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
        print(f"started {p.name} (pid {p.popen.pid})", flush=True)
    base = settings.public_base_url.rstrip("/")
    print(
        f"\n  Shop page with chat widget:  {base}/\n"
        f"  Dashboard:                   {base}/dashboard\n"
        f"  Health:                      {base}/health\n"
        f"  Rasa REST:                   {settings.rasa_url}/webhooks/rest/webhook\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )
    exit_code = 0
    while not stopping:
        for p in procs:
            code = p.popen.poll()
            if code is not None:
                print(
                    f"error: process '{p.name}' exited with code {code}; stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                exit_code, stopping = 1, True
                break
        time.sleep(0.5)
    _terminate(procs)
    print("all processes stopped", flush=True)
    return exit_code


def _terminate(procs: list[Proc], grace: float = 10.0) -> None:
    for p in procs:
        if p.popen and p.popen.poll() is None:
            os.killpg(p.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in procs:
        if not p.popen:
            continue
        try:
            p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.popen.pid, signal.SIGKILL)
            p.popen.wait()
