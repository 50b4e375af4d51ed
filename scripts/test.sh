#!/usr/bin/env bash
# The whole test suite, as CI runs it. Postgres/Redis tests use TEST_POSTGRES_URL / TEST_REDIS_URL
# when set (.ci/run sets them) and are reported as skipped, with the reason, when not.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export HTS_ENV_FILE=/nonexistent/.env   # tests never read a developer's .env

step() { printf '\n==> %s\n' "$*"; }

# Debian packages some tests need: installed when missing (as root), else those tests skip.
# (command, package, which tests)
needs_package() {
  if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then return; fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing Debian's $2 for $3 (about a minute)"
    apt-get install -y -qq "$2" >"/tmp/hts-apt-$2.log" 2>&1 \
      || echo "warning: could not install $2; $3 will be skipped (see /tmp/hts-apt-$2.log)"
  else
    echo "note: $2 is not installed and cannot be installed here; $3 will be skipped"
  fi
}
needs_package chromium chromium "the browser tests"
needs_package haproxy haproxy "the multi-instance test (tests/scale)"

step "lint (ruff)"
.venv/bin/ruff check backend actions tests benchmarks

step "rasa data validate --fail-on-warnings"
$PY -m rasa data validate --fail-on-warnings --quiet

step "train the Rasa model (reused when unchanged)"
$PY -m rasa train --out models --fixed-model-name current --quiet >/tmp/hts-train.log 2>&1 \
  || { tail -50 /tmp/hts-train.log; exit 1; }

step "pytest"
$PY -m pytest -q --ignore=tests/scale "$@"

if [ $# -eq 0 ]; then  # (not when a selection of tests was asked for)
  step "multi-instance topology: 2x rasa + 2x actions behind HAProxy, 2 schedulers (4-6 min, ~3 GB)"
  $PY -m pytest -q tests/scale
fi

step "schemathesis against the admin API (no input may cause a 5xx; own venv, ~1 min)"
scripts/schemathesis.sh

if [ -d tests/stories ]; then
  step "rasa test core (test stories, fail on prediction errors)"
  # (through backend.rasa_ext.speedups: the stories run the same code as `rasa run` does)
  PYTHONWARNINGS=ignore $PY -m backend.rasa_ext.speedups test core --model models/current.tar.gz --stories tests/stories \
    --fail-on-prediction-errors --out results/core --quiet >/tmp/hts-core-test.log 2>&1 \
    || { grep -vE "Warning|^\s" /tmp/hts-core-test.log | tail -40; cat results/core/failed_test_stories.yml 2>/dev/null; exit 1; }
  echo "all test stories passed (report: results/core/)"
fi
echo; echo "all tests passed"
