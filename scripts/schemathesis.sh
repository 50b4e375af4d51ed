#!/usr/bin/env bash
# Fuzz the backend admin API with schemathesis: no input may produce a server error (5xx).
# schemathesis lives in its own virtualenv (.venv-schemathesis, from requirements-schemathesis.lock)
# because it needs jsonschema>=4 and the main lock pins jsonschema 3.2.0 for Rasa.
#   scripts/schemathesis.sh            run (creates the tool venv on first use)
#   scripts/schemathesis.sh --lock     re-resolve requirements-schemathesis.lock
# ST_MAX_EXAMPLES (default 25) bounds the examples per operation.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
TOOL=.venv-schemathesis

if [ "${1:-}" = "--lock" ]; then
  tools=$(mktemp -d)
  trap 'rm -rf "$tools"' EXIT
  "$PY" -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "pip<25" pip-tools==7.4.1
  "$tools/bin/pip-compile" --resolver=backtracking --strip-extras --quiet \
    -o requirements-schemathesis.lock requirements-schemathesis.in
  echo "requirements-schemathesis.lock updated"
  exit 0
fi

stamp="$TOOL/.lock.sha256"
want=$(sha256sum requirements-schemathesis.lock | cut -d' ' -f1)
if [ ! -x "$TOOL/bin/st" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> creating $TOOL from requirements-schemathesis.lock"
  rm -rf "$TOOL"
  "$PY" -m venv "$TOOL"
  "$TOOL/bin/pip" install --quiet --disable-pip-version-check -r requirements-schemathesis.lock \
    2> >(grep -v "is neither a file nor a directory" >&2)
  echo "$want" >"$stamp"
fi

work=$(mktemp -d)
server_pid=""
rasa_pid=""
cleanup() {
  for pid in $server_pid $rasa_pid; do
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

export HTS_ENV_FILE=/nonexistent/.env
export APP_ENV=development
export DATABASE_URL="sqlite:///$work/hts.db"
export TRAINING_MODELS_DIR="$work"  # "promote the candidate" must never touch models/ here
export SESSION_SECRET="schemathesis-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)

# A stand-in for Rasa's HTTP API on loopback, so "hand back to the bot" runs its real path
# (an unconfigured or unreachable Rasa is a genuine 503, not a bug this run looks for).
rasa_port=$(free_port)
"$PY" - "$rasa_port" >"$work/rasa-stub.log" 2>&1 <<'PYEOF' &
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Stub(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Stub).serve_forever()
PYEOF
rasa_pid=$!
export RASA_URL="http://127.0.0.1:$rasa_port" RASA_TOKEN="fuzz-token-0123456789" \
  CHAT_ID_SECRET="fuzz-chat-secret-0123456789"

# A migrated database with sample rows and one admin API key.
key=$("$PY" -m tests.fuzz_setup)

"$PY" -m uvicorn backend.api.app:create_app --factory --host 127.0.0.1 --port "$port" \
  --ws none --log-level warning >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/openapi.json" >/dev/null 2>&1; then break; fi
  sleep 0.2
done

set +e
"$TOOL/bin/st" run "http://127.0.0.1:$port/openapi.json" \
  --checks not_a_server_error \
  --max-examples "${ST_MAX_EXAMPLES:-25}" \
  --header "Authorization: Bearer $key" \
  --include-path-regex '^/api/' \
  --seed 20261201 \
  --wait-for-schema 10 \
  --no-color
status=$?
set -e
if [ "$status" -ne 0 ]; then
  echo "--- backend log (last 40 lines) ---"; tail -40 "$work/server.log"
fi
exit "$status"
