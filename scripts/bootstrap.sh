#!/usr/bin/env bash
# Creates .venv with a Python 3.10 and installs the lock file (only when the lock changed).
# Rasa 3.6 supports Python 3.8-3.10 only; everything is resolved together in requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidates=()
  [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
  candidates+=(python3.10)
  if command -v pyenv >/dev/null 2>&1; then
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.|$)' | sort -rV); do
      candidates+=("$(pyenv prefix "$v")/bin/python")
    done
  fi
  for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.10.*; do
    [ -x "$d/bin/python" ] && candidates+=("$d/bin/python")
  done
  candidates+=(python3 python)
  for c in "${candidates[@]}"; do
    if command -v "$c" >/dev/null 2>&1 || [ -x "$c" ]; then
      if "$c" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
        echo "$c"; return 0
      fi
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  if ! PY=$(find_python); then
    echo "error: Python 3.10 is required (Rasa 3.6 does not run on 3.11+)." >&2
    echo "  Install it (e.g. 'pyenv install 3.10.13') or point PYTHON=/path/to/python3.10." >&2
    exit 1
  fi
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi

stamp=.venv/.lock-sha256
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing requirements.lock into .venv (first time: a few minutes)"
  pipq() { .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -vE "is ignored: it is neither|DEPRECATION|pip 23.1 will enforce" >&2); }
  pipq "pip<25"
  pipq -r requirements.lock
  pipq --no-deps -e .
  .venv/bin/python -m pip check
  echo "$want" > "$stamp"
fi
[ -f .env ] || { cp .env.example .env; echo "==> created .env from .env.example (dummy keys: services report 'not configured')"; }
# Secrets without which nothing starts: generated once per checkout, kept across setups.
.venv/bin/python - <<'PY'
import re, secrets
from pathlib import Path

env = Path(".env")
text = env.read_text()
for key in ("RASA_TOKEN", "CHAT_ID_SECRET", "SESSION_SECRET", "PSEUDONYM_KEY"):
    line = re.search(rf"^{key}=([^\s#]*)(.*)$", text, flags=re.M)
    if line and line.group(1) and line.group(1) != "dev-only-change-me":
        continue
    value = secrets.token_urlsafe(32)
    if line:
        text = text[: line.start()] + f"{key}={value}" + text[line.end() :]
    else:
        text = text.rstrip("\n") + f"\n{key}={value}\n"
    print(f"==> generated {key} into .env")
env.write_text(text)
PY
.venv/bin/python scripts/fetch_encoder.py 2> >(grep -vE "is ignored: it is neither" >&2)
