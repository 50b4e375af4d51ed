"""compose.yaml, the Dockerfile and deploy/haproxy.cfg describe the topology that
tests/scale/test_topology.py runs: the same process kinds and counts, the same settings, the
same balancer config. (No container engine runs here: this is what can be checked without one.)
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from urllib.parse import urlsplit

import yaml

from backend.config import ROOT, Settings, load_settings
from backend.supervisor import PROCESS_KINDS, processes
from tests.helpers import chat_env
from tests.scale.topology import (
    COMPOSE_BALANCER,
    DEPLOY_HAPROXY,
    haproxy_config,
    running_topology,
    settings_env,
)

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
APP = {name: s for name, s in SERVICES.items() if s.get("image") == "health-trend-seller"}
SETTINGS_NAMES = {f.name.upper() for f in fields(Settings)}


def kinds() -> dict[str, str]:
    """Each long-running app service's process kind (`backend process <kind>`)."""
    return {
        name: service["command"][0]
        for name, service in APP.items()
        if "entrypoint" not in service  # the one-off migrate job
    }


def test_the_same_process_kinds_and_counts_as_the_tested_topology():
    tested = inspect.signature(running_topology).parameters
    counted = list(kinds().values())
    assert set(counted) <= set(PROCESS_KINDS)
    assert counted.count("rasa") == tested["rasa_instances"].default == 2
    assert counted.count("actions") == tested["action_servers"].default == 2
    assert counted.count("scheduler") == tested["schedulers"].default == 2
    assert counted.count("web") == tested["web_apps"].default == 1
    assert counted.count("outbox") >= 1  # a delivery worker beside the schedulers' outbox job
    assert {"haproxy", "postgres", "redis"} <= set(SERVICES)
    assert SERVICES["migrate"]["entrypoint"] == ["python", "-m", "backend", "db", "upgrade"]


def test_every_app_variable_is_a_setting_and_the_tested_ones_are_all_set():
    tested = settings_env(db_url="", redis_url="", rasa_url="", actions_url="")
    for name, service in APP.items():
        env = service["environment"]
        assert set(env) <= SETTINGS_NAMES, (name, set(env) - SETTINGS_NAMES)
        assert set(tested) <= set(env), (name, set(tested) - set(env))
        assert env["BIND_HOST"] == env["API_HOST"] == "0.0.0.0"  # reachable from the balancer
        assert "@postgres:5432/" in env["DATABASE_URL"]  # the password is ${POSTGRES_PASSWORD}
        assert urlsplit(env["REDIS_URL"]).hostname == "redis"
        for secret in ("RASA_TOKEN", "CHAT_ID_SECRET", "SESSION_SECRET", "PSEUDONYM_KEY"):
            assert re.fullmatch(rf"\$\{{{secret}:\?.+\}}", env[secret]), secret  # never inline


def test_rasa_and_actions_are_reached_only_through_the_balancer():
    env = APP["rasa1"]["environment"]
    actions = urlsplit(env["ACTION_SERVER_URL"])
    assert (actions.hostname, actions.port) == ("haproxy", COMPOSE_BALANCER["actions_lb"])
    # RASA_URL is what browsers reach (the balancer's public address), set by the operator;
    # with no port in it each instance listens on 5005 (backend/supervisor.py)
    assert env["RASA_URL"].startswith("${RASA_URL:?")
    settings = load_settings({"RASA_URL": "https://chat.shop.example", **chat_env()}, dotenv=False)
    [rasa_argv] = [p.argv for p in processes(settings) if p.name == "rasa"]
    rasa_port = int(rasa_argv[rasa_argv.index("-p") + 1])
    assert rasa_port == COMPOSE_BALANCER["rasa_lb"]
    # ... which is where the balancer's servers point
    assert set(COMPOSE_BALANCER["rasa"].values()) == {
        f"{n}:{rasa_port}" for n in ("rasa1", "rasa2")
    }
    assert set(COMPOSE_BALANCER["actions"].values()) == {
        f"{n}:{actions.port}" for n in ("actions1", "actions2")
    }
    published = {
        name: [str(p).split(":")[0] for p in service.get("ports", [])]
        for name, service in SERVICES.items()
    }
    assert {name for name, ports in published.items() if ports} == {"haproxy", "web"}
    assert published["haproxy"] == [str(rasa_port)]  # not the actions frontend, not the stats
    assert published["web"] == [env["API_PORT"]]


def test_the_balancer_config_is_the_tested_one():
    rendered = haproxy_config(**COMPOSE_BALANCER)
    assert DEPLOY_HAPROXY.read_text().split("\n", 2)[2] == rendered, (
        "deploy/haproxy.cfg is stale: run `.venv/bin/python -m tests.scale.topology`"
    )
    assert (
        "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro"
        in (SERVICES["haproxy"]["volumes"])
    )


def test_the_image_installs_the_lock_file_and_runs_one_process_kind():
    lines = [
        line.strip()
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "FROM python:3.10-slim"
    assert "COPY requirements.lock ./" in lines
    assert "RUN pip install --no-deps -r requirements.lock" in lines
    assert 'ENTRYPOINT ["python", "-m", "backend", "process"]' in lines
    assert any(line.startswith("USER ") and line != "USER root" for line in lines)
    assert "models" not in (ROOT / ".dockerignore").read_text().split()  # the image needs it
