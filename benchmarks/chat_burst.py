"""One client bursting at the chat webhook while another chats normally: how much the quotas
keep the other client's latency near what it is when the shop is quiet.

Starts the full stack (benchmarks/chat_load.py: our model, action server, SQL tracker store)
with the shipped chat quotas (RATE_LIMIT_CHAT_PER_IP / _PER_SENDER / _CONCURRENT_PER_IP
defaults), then, each phase for a fixed number of normal messages:
  * quiet:  the normal client (source address 127.0.0.2) alone, one message a second;
  * burst:  the same while a burster (127.0.0.3, --burst-threads threads) posts signed messages
            as fast as it can (a fresh chat id each, so only the per-IP quotas stop it);
  * with --compare-unlimited a second stack without chat quotas runs the burst phase again.
Reports the normal client's p50/p95/max and what happened to the burst (accepted vs 429).
Results: benchmarks/results/chat_burst.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.chat_load import NO_CHAT_QUOTAS, OUR_SCRIPT, full_stack, percentile  # noqa: E402
from tests.helpers import chat_message, web_chat  # noqa: E402

NORMAL_ADDRESS, BURST_ADDRESS = "127.0.0.2", "127.0.0.3"  # Linux routes all of 127/8 to lo


class SourceAddressAdapter(HTTPAdapter):
    """requests from a given local address: the server sees two different client IPs."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(address))
    return session


def normal_traffic(url: str, messages: int, interval: float) -> list[float]:
    session, latencies = client(NORMAL_ADDRESS), []
    chat = web_chat()
    for n in range(messages):
        if n and n % len(OUR_SCRIPT) == 0:
            chat = web_chat()  # a new visit
        start = time.perf_counter()
        reply = session.post(
            url, json=chat_message(chat, OUR_SCRIPT[n % len(OUR_SCRIPT)][0]), timeout=120
        )
        latencies.append((time.perf_counter() - start) * 1000)
        if reply.status_code != 200 or not reply.json():
            raise RuntimeError(f"normal client refused: {reply.status_code} {reply.text[:200]}")
        time.sleep(max(0.0, interval - latencies[-1] / 1000))
    return latencies


@contextlib.contextmanager
def burster(url: str, threads: int):
    counts = {"accepted": 0, "refused_429": 0, "other": 0}
    lock, stop = threading.Lock(), threading.Event()

    def run() -> None:
        session = client(BURST_ADDRESS)
        while not stop.is_set():
            try:
                status = session.post(
                    url, json=chat_message(web_chat(), "hi"), timeout=120
                ).status_code
            except requests.RequestException:
                status = 0
            key = "accepted" if status == 200 else "refused_429" if status == 429 else "other"
            with lock:
                counts[key] += 1

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    try:
        yield counts
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=150)
        counts["seconds"] = round(time.perf_counter() - started, 1)
        counts["requests_per_s"] = round(
            (counts["accepted"] + counts["refused_429"] + counts["other"]) / counts["seconds"], 1
        )


def summary(latencies: list[float]) -> dict:
    return {
        "messages": len(latencies),
        "p50_ms": round(percentile(latencies, 0.5), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1),
    }


def phases(url: str, args, *, quiet: bool) -> dict:
    normal_traffic(url, 3, 0)  # warm-up
    result = {}
    if quiet:
        result["quiet"] = summary(normal_traffic(url, args.messages, args.interval))
    with burster(url, args.burst_threads) as counts:
        time.sleep(1)  # the burst is under way before the normal client starts
        result["burst"] = summary(normal_traffic(url, args.messages, args.interval))
    result["burst"]["burster"] = counts
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=30, help="normal messages per phase")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between them")
    parser.add_argument("--burst-threads", type=int, default=8)
    parser.add_argument("--compare-unlimited", action="store_true")
    args = parser.parse_args()
    if not (ROOT / "models" / "current.tar.gz").exists():
        sys.exit("models/current.tar.gz is missing: run `make train` first")
    from backend.config import Settings

    shipped = Settings()
    result: dict = {
        "quota_chat_per_ip": shipped.rate_limit_chat_per_ip,
        "quota_chat_per_sender": shipped.rate_limit_chat_per_sender,
        "quota_chat_concurrent_per_ip": shipped.rate_limit_chat_concurrent_per_ip,
        "window_seconds": shipped.rate_limit_window_seconds,
        "burst_threads": args.burst_threads,
        "normal_interval_s": args.interval,
    }
    work = Path(tempfile.mkdtemp(prefix="hts-chat-burst-"))
    (work / "limited").mkdir()
    (work / "unlimited").mkdir()
    try:
        with full_stack(work / "limited", 1, 1, None, extra_env={}) as url:
            result["with_quotas"] = phases(url, args, quiet=True)
            print(json.dumps(result["with_quotas"]), flush=True)
        if args.compare_unlimited:
            with full_stack(work / "unlimited", 1, 1, None, extra_env=NO_CHAT_QUOTAS) as url:
                result["without_quotas"] = phases(url, args, quiet=False)
                print(json.dumps(result["without_quotas"]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = ROOT / "benchmarks" / "results" / "chat_burst.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
