"""Small helpers for tests that start processes on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import requests

from backend.chat_ids import ChatId, issue_chat_id
from backend.config import ROOT, Settings, load_settings
from backend.supervisor import rasa_api_args

# Website chats in tests: ids signed with this secret (the Rasa processes get it in chat_env).
CHAT_SECRET = "chat-id-secret-for-e2e-tests-0123"
RASA_TOKEN = "rasa-api-token-for-e2e-tests"
# The website REST channel as credentials.yml names it (only signed website chat ids).
WEB_REST_CREDENTIALS = "backend.rasa_ext.channels.web.SignedRestInput:\n"


def write_endpoints(path, *, action_port: int, db_url: str) -> None:
    """endpoints.yml for a test's `rasa run`: the action server on loopback and the backend's
    SQL tracker store on the test's database."""
    path.write_text(
        f"action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n"
        "tracker_store:\n  type: backend.rasa_ext.tracker_store.BackendSQLTrackerStore\n"
        f"  url: {db_url}\n"
    )


def chat_env() -> dict[str, str]:
    return {"CHAT_ID_SECRET": CHAT_SECRET, "RASA_TOKEN": RASA_TOKEN}


def web_chat() -> ChatId:
    """A website chat id as POST /chat/session issues it."""
    return issue_chat_id(secret=CHAT_SECRET)


def chat_message(chat: ChatId, message: str) -> dict[str, str]:
    """The REST channel's body for one message of a website chat."""
    return {"sender": chat.sender, "token": chat.token, "message": message}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None
) -> requests.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            return requests.get(url, timeout=2)
        except requests.RequestException as exc:
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s: {last}")


def backend_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "HTS_ENV_FILE": "/nonexistent/.env", **(env or {})}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "backend", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stop_group(proc: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a process started with start_new_session=True and everything it forked."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError):  # forked workers may outlive the parent
        os.killpg(proc.pid, signal.SIGKILL)


def start_logged(argv: list[str], *, env: dict[str, str], log) -> subprocess.Popen:
    """Start a process in its own group (`stop_group` stops it and what it forks); output to log."""
    with open(log, "w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # noqa: S603 - fixed argv
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_action_server(port: int, *, env: dict[str, str], log) -> subprocess.Popen:
    argv = [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "-p", str(port)]
    return start_logged(argv, env=env, log=log)


def start_rasa(
    port: int,
    *,
    env: dict[str, str],
    log,
    model,
    endpoints,
    credentials,
    api: bool = False,
    settings: Settings | None = None,
) -> subprocess.Popen:
    """`rasa run` on 127.0.0.1 with the given model, endpoints and credentials files (through
    the speedups launcher, as `make run` starts it; RASA_SPEEDUPS=0 in `env` turns them off);
    with `api`, its HTTP API as `backend up` runs it (token, CORS) for `settings`."""
    argv = [sys.executable, "-m", "backend.rasa_ext.speedups", "run"]
    argv += ["-i", "127.0.0.1", "-p", str(port)]
    if api:
        argv += rasa_api_args(settings or load_settings(chat_env(), dotenv=False))
    argv += [
        "--model",
        str(model),
        "--endpoints",
        str(endpoints),
        "--credentials",
        str(credentials),
    ]
    return start_logged(argv, env=env, log=log)


@contextlib.contextmanager
def serve_backend(env: dict[str, str]):
    """`backend serve` on a free 127.0.0.1 port with `env` (its database already migrated);
    yields the base URL and stops the server afterwards."""
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "backend", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
