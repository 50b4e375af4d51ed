"""Human takeover and push to the chat window, measured.

* the TakeoverPolicy's per-turn check (`backend.rasa_ext.takeover_policy.bot_may_answer`: one
  short transaction reading `conversations.handed_off`) on SQLite, for a paused and an unpaused
  chat among 10,000 conversations;
* a staff reply's way to an open chat window: the time from `ChatFeed.publish` to the
  subscriber's `get`, in-process and (when BENCH_REDIS_URL or TEST_REDIS_URL is set) through
  Redis pub/sub.

Results: benchmarks/results/takeover_push.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import backend.models  # noqa: E402,F401 - every mapper
from backend import chat_feed, migrations  # noqa: E402
from backend.contacts.models import Conversation  # noqa: E402
from backend.db import make_engine, make_session_factory, session_scope  # noqa: E402
from backend.rasa_ext import takeover_policy  # noqa: E402


def _summary(samples_ms: list[float]) -> dict:
    samples_ms = sorted(samples_ms)
    return {
        "n": len(samples_ms),
        "median_ms": round(statistics.median(samples_ms), 3),
        "p95_ms": round(samples_ms[int(len(samples_ms) * 0.95) - 1], 3),
        "max_ms": round(samples_ms[-1], 3),
    }


def policy_check(turns: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        migrations.upgrade(engine)
        factory = make_session_factory(engine)
        with session_scope(factory) as s:
            s.add_all(
                Conversation(sender_id=f"web-{i}", channel="web", handed_off=i == 0)
                for i in range(10_000)
            )
        takeover_policy.session_factory = lambda: factory
        out = {}
        for label, sender in (("paused", "web-0"), ("not_paused", "web-5000")):
            samples = []
            for _ in range(turns):
                start = time.perf_counter()
                takeover_policy.bot_may_answer(sender, "ask_product_question")
                samples.append((time.perf_counter() - start) * 1000)
            out[label] = _summary(samples)
        engine.dispose()
        return out


async def feed_latency(feed: chat_feed.ChatFeed, messages: int) -> dict:
    samples = []
    async with feed.subscribe("web-bench") as subscription:
        for i in range(messages):
            start = time.perf_counter()
            await asyncio.to_thread(feed.publish, "web-bench", {"type": "reply", "id": i})
            got = await subscription.get(5)
            assert got == {"type": "reply", "id": i}, got
            samples.append((time.perf_counter() - start) * 1000)
    return _summary(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    result = {"policy_check_sqlite": policy_check(args.turns)}
    result["push_local"] = asyncio.run(feed_latency(chat_feed.LocalFeed(), args.messages))
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL")
    if redis_url:
        result["push_redis"] = asyncio.run(
            feed_latency(chat_feed.RedisFeed(redis_url), args.messages)
        )
    result["machine"] = {"cpus": os.cpu_count()}
    out = ROOT / "benchmarks" / "results" / "takeover_push.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
