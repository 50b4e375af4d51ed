#!/usr/bin/env bash
# Re-resolve requirements.lock from requirements.in: Rasa and everything else in ONE resolve,
# so no package can silently upgrade one of Rasa's pins (SQLAlchemy 1.4, pydantic 1.10, ...).
# Never `pip install` a package into .venv by hand: add it to requirements.in and run this.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$PY" -m venv "$tools"
"$tools/bin/pip" install --quiet --disable-pip-version-check "pip<25" pip-tools==7.4.1
"$tools/bin/pip-compile" --resolver=backtracking --strip-extras --quiet -o requirements.lock requirements.in
echo "requirements.lock updated; run 'make setup' to install it"
