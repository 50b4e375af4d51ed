"""Chat load through the REST channel: the full stack against Rasa's own `rasa init` bot.

Starts, on 127.0.0.1:
  * baseline: the `rasa init` bot (default config, in-memory tracker, no action server) with the
    same Sanic workers, lock store and TensorFlow threads as the full stack (equal terms);
  * full stack: our model + action server + SQL tracker store on a migrated SQLite database
    (optionally --workers N with the Redis lock store at --redis-url);
then drives N concurrent virtual users for a fixed number of turns (each pass through the script
is one visit with its own sender id, so no two concurrent senders share a conversation) and
reports single-turn latency (one user) and p50/p95/p99 + msg/s under load.
With --rounds N both stacks stay up and are loaded in turn (init bot, full stack, init bot, ...):
this machine's speed drifts by ±15 % within minutes, so each round's ratio compares two loads
a minute apart, and the result reports every round and their median.
Results: benchmarks/results/chat_load.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import (  # noqa: E402
    chat_env,
    chat_message,
    free_port,
    stop_group,
    wait_http,
    web_chat,
)

# Load from one address: the per-IP chat quota would refuse most of it (chat_burst.py measures
# the quotas themselves).
NO_CHAT_QUOTAS = {
    "RATE_LIMIT_CHAT_PER_IP": "100000000",
    "RATE_LIMIT_CHAT_PER_SENDER": "100000000",
    "RATE_LIMIT_CHAT_CONCURRENT_PER_IP": "100000",
}

PY = sys.executable
# A realistic consent-first visit: privacy and health-data consent (database writes with ledger
# entries), a goal (recommendations), a trend question, a product question, goodbye. Each step
# has six phrasings, 31 of the 48 not in data/ (people rarely type the training examples, and
# one repeated text would be served from caches such as the sentence encoder's); each visit
# draws one per step. --same-text uses only the first phrasing of each step.
GREETINGS = [
    "hi",
    "hello there",
    "hey, anyone around?",
    "good evening",
    "hiya",
    "hi, quick question",
]
GOODBYES = ["bye", "goodbye", "see you later", "that's all, bye", "ok bye", "have a nice day, bye"]
OUR_SCRIPT = [
    GREETINGS,
    ["yes", "yes that's fine", "ok I agree", "sure, go ahead", "yep", "fine by me"],
    ["yes", "yes you can", "ok", "that's ok with me", "yes please", "alright, agreed"],
    [
        "i want to lose weight",
        "I'd like to drop a few pounds before summer",
        "help me with weight loss please",
        "need to slim down a bit",
        "looking to shed some weight",
        "my goal is losing weight",
    ],
    [
        "what is trending for blood pressure",
        "what's popular right now for heart health",
        "any trends for blood pressure lately?",
        "what are people buying for blood sugar these days",
        "show me what's trending in weight loss",
        "what's hot at the moment for sleep",
    ],
    [
        "how much is the Weight Loss Support Bundle",
        "what does the Blood Pressure Support Kit cost",
        "price of the Keto Electrolyte Powder?",
        "how much for Magnesium Glycinate 400 mg",
        "is the Diabetes Care Pack expensive",
        "what's the price of Omega-3 Fish Oil 1000 mg",
    ],
    ["thanks", "thank you so much", "cheers, that helps", "great, thanks!", "ty", "appreciate it"],
    GOODBYES,
]
# The init bot's own visit, phrased as variously: every turn gets a reply.
INIT_SCRIPT = [
    GREETINGS,
    ["I am sad", "feeling pretty down today", "i'm not happy", "very sad", "i feel awful", "bad"],
    ["yes", "yes that's fine", "ok", "sure", "yep", "indeed"],
    [
        "are you a bot?",
        "am I talking to a human?",
        "is this a real person",
        "are you a robot",
        "r u human",
        "am i chatting with a machine?",
    ],
    GOODBYES,
]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def drive(
    url: str, script: list[list[str]], users: int, turns_per_user: int, *, same_text: bool = False
) -> dict:
    def user(i: int) -> list[float]:
        session = requests.Session()
        pick = random.Random(i)  # the same draws for both bots and in every round
        latencies = []
        for turn in range(turns_per_user):
            if turn % len(script) == 0:
                # Each pass through the script is one visit with its own conversation, as on a
                # shop website; a virtual user makes several visits one after the other.
                chat = web_chat()  # signed as the backend issues it (the init bot ignores it)
            phrasings = script[turn % len(script)]
            text = phrasings[0] if same_text else pick.choice(phrasings)
            start = time.perf_counter()
            response = session.post(url, json=chat_message(chat, text), timeout=60)
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200 or not response.json():
                raise RuntimeError(
                    f"bad answer to {text!r}: {response.status_code} {response.text[:200]}"
                )
        return latencies

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=users) as pool:
        all_latencies = [lat for lats in pool.map(user, range(users)) for lat in lats]
    wall = time.perf_counter() - start
    return {
        "users": users,
        "messages": len(all_latencies),
        "seconds": round(wall, 2),
        "msg_per_s": round(len(all_latencies) / wall, 1),
        "p50_ms": round(percentile(all_latencies, 0.5), 1),
        "p95_ms": round(percentile(all_latencies, 0.95), 1),
        "p99_ms": round(percentile(all_latencies, 0.99), 1),
    }


def start(argv: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(  # noqa: S603
        argv,
        cwd=cwd,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def rss_mb(proc: subprocess.Popen) -> dict[str, float]:
    """Resident memory (MB) of each process in `proc`'s group (a Sanic parent and its workers)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == proc.pid:  # the process group id
                pages = int((stat.parent / "statm").read_text().split()[1])
                found[stat.parent.name] = round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)
    return found


def stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        stop_group(p)  # with its forked Sanic workers


def measure(url: str, script: list[list[str]], users: int, turns: int, same_text: bool) -> dict:
    drive(url, script, 2, 3, same_text=True)  # warm-up (model loading, first-call caches)
    single = drive(url, script, 1, 30, same_text=same_text)
    loaded = drive(url, script, users, turns, same_text=same_text)
    return {
        "single_turn_p50_ms": single["p50_ms"],
        "single_turn_p95_ms": single["p95_ms"],
        "load": loaded,
    }


@contextlib.contextmanager
def baseline(work: Path, workers: int = 1, redis_url: str | None = None, procs: dict | None = None):
    """The `rasa init` bot with the same Sanic workers, lock store (Redis when several workers)
    and TensorFlow thread setting as the full stack: a ratio on equal terms."""
    bot = work / "initbot"
    if not (bot / "models").exists() or not any((bot / "models").glob("*.tar.gz")):
        bot.mkdir(parents=True, exist_ok=True)  # `rasa init --init-dir` wants it to exist
        subprocess.run(
            [PY, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(bot)],
            check=True,  # noqa: S603
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    port = free_port()
    argv = [PY, "-m", "rasa", "run", "-i", "127.0.0.1", "-p", str(port), "--model", "models"]
    env = {**os.environ, "SANIC_WORKERS": str(workers)}
    env.setdefault("TF_NUM_INTRAOP_THREADS", "1")  # as backend/supervisor.py gives ours
    if redis_url:
        parts = urlsplit(redis_url)
        (bot / "endpoints_bench.yml").write_text(
            "lock_store:\n  type: redis\n"
            f"  url: {parts.hostname}\n  port: {parts.port or 6379}\n"
            f"  db: {(parts.path or '/0').lstrip('/') or 0}\n  key_prefix: initbot\n"
        )
        argv += ["--endpoints", "endpoints_bench.yml"]
    proc = start(argv, env, bot, work / "initbot.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/", timeout=1500, proc=proc)
        if procs is not None:
            procs["rasa_init_bot"] = proc
        yield f"http://127.0.0.1:{port}/webhooks/rest/webhook"
    finally:
        stop(proc)


@contextlib.contextmanager
def full_stack(
    work: Path,
    workers: int,
    action_workers: int,
    redis_url: str | None,
    extra_env: dict[str, str] | None = None,
    procs: dict | None = None,
):
    from backend.config import load_settings
    from backend.supervisor import rasa_env

    db_url = f"sqlite:///{work / 'bench.db'}"
    env = {
        **os.environ,
        **chat_env(),
        **(NO_CHAT_QUOTAS if extra_env is None else extra_env),
        "HTS_ENV_FILE": "/nonexistent/.env",
        "DATABASE_URL": db_url,
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    subprocess.run(
        [PY, "-m", "backend", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,  # noqa: S603
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        [PY, "-m", "backend", "catalog", "load"],
        cwd=ROOT,
        env=env,
        check=True,  # noqa: S603
        stdout=subprocess.DEVNULL,
    )
    actions_port, rasa_port = free_port(), free_port()
    env["ACTION_SERVER_URL"] = f"http://127.0.0.1:{actions_port}"
    # rasa_env adds the tracker/lock store variables; env keeps this run's DATABASE_URL for both
    # processes (the action server must use the benchmark database, not the developer's).
    renv = {**rasa_env(load_settings(env, dotenv=False)), **env}
    renv["SANIC_WORKERS"] = str(workers)
    renv["ACTION_SERVER_SANIC_WORKERS"] = str(action_workers)
    actions = start(
        [PY, "-m", "rasa_sdk", "--actions", "actions", "-p", str(actions_port)],
        {**renv, "SANIC_HOST": "127.0.0.1"},
        ROOT,
        work / "actions.log",
    )
    rasa = start(
        [
            PY,
            "-m",
            "backend.rasa_ext.speedups",  # `rasa …` with the speed patches, as `make run` has
            "run",
            "-i",
            "127.0.0.1",
            "-p",
            str(rasa_port),
            "--model",
            "models/current.tar.gz",
            "--endpoints",
            "endpoints.yml",
            "--credentials",
            "credentials.yml",
        ],
        renv,
        ROOT,
        work / "rasa.log",
    )
    try:
        wait_http(f"http://127.0.0.1:{actions_port}/health", timeout=120, proc=actions)
        wait_http(f"http://127.0.0.1:{rasa_port}/", timeout=1500, proc=rasa)
        if procs is not None:
            procs.update(full_stack_rasa=rasa, action_server=actions)
        yield f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
    finally:
        stop(rasa, actions)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=40, help="messages per virtual user")
    parser.add_argument(
        "--workers", type=int, default=1, help="SANIC_WORKERS for rasa run (>1 needs --redis-url)"
    )
    parser.add_argument(
        "--action-workers", type=int, default=None, help="action server workers (def. --workers)"
    )
    parser.add_argument("--redis-url", default=os.environ.get("TEST_REDIS_URL"))
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="alternating load rounds")
    parser.add_argument(
        "--same-text", action="store_true", help="one phrasing per step (caches hit every time)"
    )
    parser.add_argument(
        "--out", help="result file name in benchmarks/results/ (default chat_load[_wN].json)"
    )
    args = parser.parse_args()
    if not (ROOT / "models" / "current.tar.gz").exists():
        sys.exit("models/current.tar.gz is missing: run `make train` first")
    work = Path(tempfile.mkdtemp(prefix="hts-chat-load-"))
    cache = Path(tempfile.gettempdir()) / "hts-bench-initbot"
    action_workers = args.action_workers or args.workers
    result: dict = {
        "users": args.users,
        "turns_per_user": args.turns,
        "workers": args.workers,
        "action_workers": action_workers,
        "redis_lock_store": bool(args.redis_url and args.workers > 1),
        "cpu_count": os.cpu_count(),
        # both stacks: the same Sanic workers, lock store and TensorFlow threads (1 unless set)
        "TF_NUM_INTRAOP_THREADS": os.environ.get("TF_NUM_INTRAOP_THREADS", "1"),
        "equal_terms": True,
        "messages": "one phrasing per step" if args.same_text else "varied phrasings per step",
        "rounds": [],
    }
    redis_url = args.redis_url if args.workers > 1 else None
    try:
        with contextlib.ExitStack() as stack:
            procs: dict[str, subprocess.Popen] = {}  # whose memory is reported
            ours = stack.enter_context(
                full_stack(work, args.workers, action_workers, redis_url, procs=procs)
            )
            init_url = None
            if not args.skip_baseline:
                cache.mkdir(exist_ok=True)
                init_url = stack.enter_context(
                    baseline(cache, args.workers, redis_url, procs=procs)
                )
            for _ in range(args.rounds):
                one: dict = {}
                if init_url:
                    one["rasa_init_bot"] = measure(
                        init_url, INIT_SCRIPT, args.users, args.turns, args.same_text
                    )
                one["full_stack"] = measure(
                    ours, OUR_SCRIPT, args.users, args.turns, args.same_text
                )
                if init_url:
                    one["throughput_ratio"] = round(
                        one["full_stack"]["load"]["msg_per_s"]
                        / one["rasa_init_bot"]["load"]["msg_per_s"],
                        2,
                    )
                # after the load: every process has seen the whole script (RSS, MB)
                one["rss_mb"] = {name: rss_mb(proc) for name, proc in procs.items()}
                result["rounds"].append(one)
                print(json.dumps(one), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rounds = result["rounds"]
    result["full_stack"] = rounds[-1]["full_stack"]
    if init_url:
        result["rasa_init_bot"] = rounds[-1]["rasa_init_bot"]
        result["throughput_ratio_median"] = statistics.median(r["throughput_ratio"] for r in rounds)
    result["single_turn_p50_ms_median"] = statistics.median(
        r["full_stack"]["single_turn_p50_ms"] for r in rounds
    )
    suffix = "" if args.workers == 1 else f"_w{args.workers}"
    out = ROOT / "benchmarks" / "results" / (args.out or f"chat_load{suffix}.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
