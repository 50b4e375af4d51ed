#!/usr/bin/env bash
# Every benchmark, one after the other (they need the CPU to themselves to mean anything).
# Figures go to benchmarks/results/*.json; the README quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -f models/current.tar.gz ] || make train
for bench in trend_scoring receipts audit_verify nlu_quality; do
  echo "==> benchmarks/$bench.py"; $PY "benchmarks/$bench.py"
done
echo "==> benchmarks/chat_load.py (rasa init bot baseline vs the full stack)"
$PY benchmarks/chat_load.py
if [ -n "${REDIS_URL:-${TEST_REDIS_URL:-}}" ]; then
  echo "==> benchmarks/chat_load.py --workers 2 (Redis lock store)"
  $PY benchmarks/chat_load.py --workers 2 --action-workers 2 --rounds 3 --redis-url "${REDIS_URL:-$TEST_REDIS_URL}"
fi
