"""The production topology on one machine, for tests/scale and benchmarks/topology.py.

Starts, all on 127.0.0.1 free ports, each process as `backend up` starts it
(backend/supervisor.py: `rasa run` through the speedups launcher with the project's
endpoints.yml and credentials.yml and the environment of `rasa_env`; `rasa_sdk`; `backend
scheduler`):

    HAProxy (Debian's /usr/sbin/haproxy, a generated config)
      :rasa_lb    round-robin ─► rasa1, rasa2, …     (`rasa run`, Postgres tracker store,
      :actions_lb round-robin ─► actions1, actions2   Redis lock store)
      :stats      the stats page (CSV) and the runtime API socket
    scheduler1, scheduler2 (`backend scheduler`), web1 (`backend serve`)
    Postgres: one fresh database for backend tables and Rasa's tracker store; Redis: the lock
    store, the chat quotas and the chat push.

Rasa instances call their actions through the `actions` frontend, so both action servers take
turns too. HAProxy adds `X-Served-By: <server>` to every Rasa answer: a test sees which instance
answered each turn. Each process's database connections carry its name (PGAPPNAME) and its
output goes to `<work>/<name>.log`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from sqlalchemy import text

from backend import migrations
from backend.catalog.service import SAMPLE_CATALOG, load_catalog
from backend.config import ROOT, load_settings
from backend.db import make_engine, make_session_factory, session_scope
from backend.supervisor import rasa_env
from tests.helpers import (
    chat_env,
    free_port,
    start_action_server,
    start_logged,
    start_rasa,
    stop_group,
    wait_http,
)

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
MODEL = ROOT / "models" / "current.tar.gz"
STARTUP_SECONDS = 300  # loading two models at once on a busy 2-core machine
# All load comes from one address: the per-IP chat quotas would refuse most of it.
NO_CHAT_QUOTAS = {
    "RATE_LIMIT_CHAT_PER_IP": "100000000",
    "RATE_LIMIT_CHAT_PER_SENDER": "100000000",
    "RATE_LIMIT_CHAT_CONCURRENT_PER_IP": "100000",
}

HAPROXY_CONFIG = """\
global
    maxconn 4096
    stats socket {socket} mode 600 level admin
    # one line per request on standard output: server, timings and the termination state
    log stdout format raw local0

defaults
    mode http
    timeout connect 2s
    # a busy single-worker server (a long turn, a slow action) answers its health check late;
    # only a server that cannot answer within 10 s three times in a row is taken out
    timeout check 10s
    timeout client 180s
    # a turn may wait for the conversation's lock (Rasa's TICKET_LOCK_LIFETIME, 60 s) after
    # the instance that held it died
    timeout server 180s
    # a refused connection or a connection closed without an answer (the instance died
    # mid-turn) is retried on another server; Rasa saves a turn's events only when the turn
    # is done, so the retried turn is stored once
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response
    # the whole request is read before it goes to a server, so it can be sent again
    option http-buffer-request
    log global
    # the path without its query string: Rasa's HTTP API takes its token as `?token=`
    log-format "%ci [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc retries:%rc %HM %HP"
    # a server whose connection fails is out of rotation at once (the health check brings it
    # back), so the retries of the turns it dropped go to the survivor, not to it again;
    # start even when a server's name does not resolve yet (containers start in any order)
    default-server init-addr last,libc,none observe layer4 error-limit 1 on-error mark-down

frontend rasa_in
    bind {rasa_lb}
    default_backend rasa

frontend actions_in
    bind {actions_lb}
    default_backend actions

backend rasa
    balance roundrobin
    option httpchk GET /
    http-response set-header X-Served-By %s
{rasa_servers}

backend actions
    balance roundrobin
    option httpchk GET /health
{action_servers}

listen stats
    bind {stats}
    stats enable
    stats uri /stats
"""


def missing_requirements() -> str | None:
    """Why the topology cannot start here, or None."""
    if not Path(HAPROXY).exists():
        return "haproxy is not installed (scripts/test.sh installs Debian's haproxy)"
    if not MODEL.exists():
        return "models/current.tar.gz is missing: run `make train` (scripts/test.sh does)"
    if not os.environ.get("TEST_POSTGRES_URL"):
        return "TEST_POSTGRES_URL is not set (.ci/run sets it)"
    if not os.environ.get("TEST_REDIS_URL"):
        return "TEST_REDIS_URL is not set (.ci/run sets it)"
    return None


def haproxy_config(
    *,
    listen: str,
    rasa_lb: int,
    actions_lb: int,
    stats: int,
    socket_path: Path | str,
    rasa: dict[str, str],
    actions: dict[str, str],
) -> str:
    """The balancer's config: `listen` is the address its frontends bind ("127.0.0.1" here,
    "" = every address in a container); `rasa`/`actions` map server names to host:port."""

    def servers(addresses: dict[str, str]) -> str:
        # health checked every 2 s: a dead instance (connection refused) is out of rotation
        # within ~6 s, and meanwhile its turns are redispatched (retry-on conn-failure)
        return "\n".join(
            f"    server {name} {address} check inter 2s fall 3 rise 2"
            for name, address in addresses.items()
        )

    return HAPROXY_CONFIG.format(
        socket=socket_path,
        rasa_lb=f"{listen}:{rasa_lb}",
        actions_lb=f"{listen}:{actions_lb}",
        stats=f"{listen}:{stats}",
        rasa_servers=servers(rasa),
        action_servers=servers(actions),
    )


# compose.yaml's balancer (deploy/haproxy.cfg): the same config, container names and ports.
COMPOSE_BALANCER = {
    "listen": "",
    "rasa_lb": 5005,
    "actions_lb": 5055,
    "stats": 8404,
    "socket_path": "/tmp/haproxy.sock",
    "rasa": {"rasa1": "rasa1:5005", "rasa2": "rasa2:5005"},
    "actions": {"actions1": "actions1:5055", "actions2": "actions2:5055"},
}
DEPLOY_HAPROXY = ROOT / "deploy" / "haproxy.cfg"


@dataclass
class Topology:
    work: Path
    db_url: str
    redis_url: str
    rasa_url: str  # the load balancer's Rasa frontend
    stats_url: str
    socket_path: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def webhook(self) -> str:
        return f"{self.rasa_url}/webhooks/rest/webhook"

    def log(self, name: str) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it forked (no clean shutdown)."""
        os.killpg(self.procs[name].pid, signal.SIGKILL)
        self.procs[name].wait()

    def haproxy_command(self, command: str) -> str:
        """One command on HAProxy's runtime API (e.g. `set server rasa/rasa2 state maint`)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket_path))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def stats(self) -> dict[tuple[str, str], dict[str, str]]:
        """HAProxy's stats rows by (proxy, server)."""
        text = requests.get(f"{self.stats_url};csv", timeout=5).text.lstrip("# ")
        return {(r["pxname"], r["svname"]): r for r in csv.DictReader(io.StringIO(text))}

    def server_states(self, proxy: str) -> dict[str, str]:
        return {
            server: row["status"]
            for (px, server), row in self.stats().items()
            if px == proxy and server not in ("FRONTEND", "BACKEND")
        }

    def wait_for_state(self, proxy: str, server: str, state: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.server_states(proxy).get(server) != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{proxy}/{server} not {state}: {self.server_states(proxy)}")
            time.sleep(0.3)

    def pids(self, name: str) -> list[int]:
        """The process and every process it forked (its process group)."""
        group = self.procs[name].pid
        out = subprocess.run(["ps", "-o", "pid=", "-g", str(group)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]


def settings_env(*, db_url: str, redis_url: str, rasa_url: str, actions_url: str) -> dict:
    """The settings every process of the topology gets (compose.yaml sets the same names)."""
    return {
        **chat_env(),  # RASA_TOKEN, CHAT_ID_SECRET
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "RASA_URL": rasa_url,  # the balancer's Rasa frontend
        "ACTION_SERVER_URL": actions_url,  # Rasa calls its actions through the balancer
    }


def _fresh_database(base_url: str) -> tuple[str, str]:
    """A new empty database on TEST_POSTGRES_URL's server: (url, name)."""
    name = f"hts_scale_{uuid.uuid4().hex[:10]}"
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    parts = urlsplit(base_url)
    return parts._replace(path=f"/{name}").geturl(), name


def _drop_database(base_url: str, name: str) -> None:
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextlib.contextmanager
def running_topology(
    work: Path,
    *,
    rasa_instances: int = 2,
    action_servers: int = 2,
    schedulers: int = 2,
    web_apps: int = 1,
    extra_env: dict[str, str] | None = None,
):
    """Start the topology (fresh Postgres database, migrated, sample catalog); yield a Topology;
    stop every process and drop the database afterwards."""
    base_pg, redis_url = os.environ["TEST_POSTGRES_URL"], os.environ["TEST_REDIS_URL"]
    db_url, db_name = _fresh_database(base_pg)
    procs: dict[str, subprocess.Popen] = {}
    try:
        engine = make_engine(db_url)
        migrations.upgrade(engine)
        with session_scope(make_session_factory(engine)) as session:
            load_catalog(session, source=str(SAMPLE_CATALOG))
        engine.dispose()

        rasa_ports = {f"rasa{i + 1}": free_port() for i in range(rasa_instances)}
        action_ports = {f"actions{i + 1}": free_port() for i in range(action_servers)}
        rasa_lb, actions_lb, stats = free_port(), free_port(), free_port()
        socket_path = work / "haproxy.sock"
        values = settings_env(
            db_url=db_url,
            redis_url=redis_url,
            rasa_url=f"http://127.0.0.1:{rasa_lb}",
            actions_url=f"http://127.0.0.1:{actions_lb}",
        )
        settings = load_settings(values, dotenv=False)
        env = {
            **rasa_env(settings),
            **values,
            **NO_CHAT_QUOTAS,
            "HTS_ENV_FILE": "/nonexistent/.env",
            **(extra_env or {}),
        }
        (work / "haproxy.cfg").write_text(
            haproxy_config(
                listen="127.0.0.1",
                rasa_lb=rasa_lb,
                actions_lb=actions_lb,
                stats=stats,
                socket_path=socket_path,
                rasa={name: f"127.0.0.1:{port}" for name, port in rasa_ports.items()},
                actions={name: f"127.0.0.1:{port}" for name, port in action_ports.items()},
            )
        )
        topo = Topology(
            work=work,
            db_url=db_url,
            redis_url=redis_url,
            rasa_url=f"http://127.0.0.1:{rasa_lb}",
            stats_url=f"http://127.0.0.1:{stats}/stats",
            socket_path=socket_path,
            procs=procs,  # the same dict: what started is stopped, even if starting fails
        )
        topo.procs["haproxy"] = start_logged(
            [HAPROXY, "-db", "-f", str(work / "haproxy.cfg")], env=env, log=work / "haproxy.log"
        )
        for name, port in action_ports.items():
            topo.procs[name] = start_action_server(
                port, env={**env, "PGAPPNAME": name}, log=work / f"{name}.log"
            )
        for name, port in rasa_ports.items():
            topo.procs[name] = start_rasa(
                port,
                env={**env, "PGAPPNAME": name},
                log=work / f"{name}.log",
                model=MODEL,
                endpoints=ROOT / "endpoints.yml",
                credentials=ROOT / "credentials.yml",
                api=True,
                settings=settings,
            )
        for i in range(schedulers):
            name = f"scheduler{i + 1}"
            topo.procs[name] = start_logged(
                [sys.executable, "-m", "backend", "scheduler"],
                env={**env, "PGAPPNAME": name},
                log=work / f"{name}.log",
            )
        web_ports = {f"web{i + 1}": free_port() for i in range(web_apps)}
        for name, port in web_ports.items():
            topo.procs[name] = start_logged(
                [sys.executable, "-m", "backend", "serve", "--port", str(port)],
                env={**env, "PGAPPNAME": name},
                log=work / f"{name}.log",
            )
        wait_http(topo.stats_url, timeout=30, proc=topo.procs["haproxy"])
        for name, port in {**web_ports, **action_ports, **rasa_ports}.items():
            path = "/" if name.startswith("rasa") else "/health"
            try:
                wait_http(
                    f"http://127.0.0.1:{port}{path}", timeout=STARTUP_SECONDS, proc=topo.procs[name]
                )
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"{name}: {exc}\n{topo.log(name)[-3000:]}") from exc
        for name in rasa_ports:
            topo.wait_for_state("rasa", name, "UP")
        for name in action_ports:
            topo.wait_for_state("actions", name, "UP")
        yield topo
    finally:  # also when starting failed half-way
        for proc in reversed(list(procs.values())):
            stop_group(proc)
        _drop_database(base_pg, db_name)


if __name__ == "__main__":  # python -m tests.scale.topology: rewrite deploy/haproxy.cfg
    DEPLOY_HAPROXY.write_text(
        "# Generated by `python -m tests.scale.topology` from the config the multi-instance\n"
        "# test runs (tests/scale/topology.py); tests/unit/test_containers.py checks it.\n"
        + haproxy_config(**COMPOSE_BALANCER)
    )
