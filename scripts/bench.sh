#!/usr/bin/env bash
# Every benchmark, one after the other (they need the CPU to themselves to mean anything).
# Figures go to benchmarks/results/*.json; the README quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -f models/current.tar.gz ] || make train
for bench in trend_scoring receipts audit_verify nlu_quality hostile_input erasure; do
  echo "==> benchmarks/$bench.py"; $PY "benchmarks/$bench.py"
done
echo "==> benchmarks/safety_eval.py (realistic held-out set, 5-fold cross-validation)"
$PY benchmarks/safety_eval.py
echo "==> benchmarks/chat_burst.py (one address bursting, another chatting)"
$PY benchmarks/chat_burst.py
echo "==> benchmarks/takeover_push.py (takeover check per turn, staff reply push latency)"
BENCH_REDIS_URL="${REDIS_URL:-${TEST_REDIS_URL:-}}" $PY benchmarks/takeover_push.py
echo "==> benchmarks/takeover_timeout.py (takeover idle timeout job)"
$PY benchmarks/takeover_timeout.py --rounds 3
if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  echo "==> benchmarks/outbox_delivery.py (1, 2, 4 delivery workers on Postgres; a crash, an outage)"
  $PY benchmarks/outbox_delivery.py --db "$TEST_POSTGRES_URL"
fi
echo "==> benchmarks/chat_load.py (rasa init bot baseline vs the full stack, one worker each)"
$PY benchmarks/chat_load.py --rounds 3
if [ -n "${REDIS_URL:-${TEST_REDIS_URL:-}}" ]; then
  redis="${REDIS_URL:-$TEST_REDIS_URL}"
  echo "==> benchmarks/chat_load.py --workers 2 (Redis lock store)"
  $PY benchmarks/chat_load.py --workers 2 --action-workers 2 --rounds 5 --redis-url "$redis"
  echo "==> the same, the init bot also with one TensorFlow thread"
  TF_NUM_INTRAOP_THREADS=1 $PY benchmarks/chat_load.py --workers 2 --action-workers 2 --rounds 3 \
    --redis-url "$redis" --out chat_load_w2_both_1thread.json
  echo "==> benchmarks/chat_load.py --workers 3"
  $PY benchmarks/chat_load.py --workers 3 --action-workers 2 --rounds 3 --redis-url "$redis"
fi
if [ -n "${TEST_POSTGRES_URL:-}" ] && [ -n "${TEST_REDIS_URL:-}" ]; then
  echo "==> benchmarks/topology.py (one vs two rasa instances behind HAProxy, Postgres, Redis)"
  $PY benchmarks/topology.py
fi
