#!/usr/bin/env bash
# Fuzzes keyward's REST API from its own OpenAPI document: validates the document with
# openapi-spec-validator, then runs schemathesis against a throwaway server (SQLite in a temp
# dir) twice — anonymous, and with an admin API key — and fails on any 5xx.
# Tools go into target/ci-venv-<python> (PyPI). SCHEMATHESIS_EXAMPLES bounds the examples per
# operation.
set -euo pipefail
cd "$(dirname "$0")/.."

# The newest CPython at hand: 3.11's ast module crashes inside hypothesis ("AST constructor
# recursion depth mismatch") on some of our operations; 3.12+ does not.
python=""
for candidate in /root/.pyenv/versions/3.13*/bin/python3 /root/.pyenv/versions/3.12*/bin/python3 \
  python3.13 python3.12 python3; do
  # Run it: a pyenv shim exists even where its version is not selected.
  if "$candidate" -c 'import sys, venv' >/dev/null 2>&1; then
    python="$(command -v "$candidate")"
    break
  fi
done
[ -n "$python" ] || { echo "no python3 found for schemathesis"; exit 1; }
venv="target/ci-venv-$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
examples="${SCHEMATHESIS_EXAMPLES:-60}"

if ! "$venv/bin/python" -c 'import schemathesis, openapi_spec_validator' >/dev/null 2>&1; then
  echo "installing schemathesis and openapi-spec-validator into $venv ($python)"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis>=4,<5' openapi-spec-validator
fi

cargo build -q -p keyward
PWD_ROOT="$PWD"
bin="$PWD/target/debug/keyward"

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/keyward.toml" <<EOF
data_dir = "$work/data"
listen = "127.0.0.1:0"
argon2_memory_kib = 1024
argon2_iterations = 1
node_id = "schemathesis"
log_level = "warn"
EOF
export KEYWARD_CONFIG="$work/keyward.toml"
# Strip stray KEYWARD_* settings of the caller (the config above is the whole truth).
for v in $(env | grep -o '^KEYWARD_[A-Z_]*' | grep -v '^KEYWARD_CONFIG$' || true); do unset "$v"; done

# A user and an admin API key, so the authenticated routes are reached too.
"$bin" manage createuser fuzz-admin fuzz-password fuzz@example.com >/dev/null
admin_key="$("$bin" manage api createtoken -r admin -u fuzz-admin | sed -n 's/^Auth-Token: //p')"

"$bin" serve 2>"$work/serve.log" &
server_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^keyward: listening on //p' "$work/serve.log" | head -n1)"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "keyward serve did not start"; cat "$work/serve.log"; exit 1; }
echo "server at $url"

curl -fsS "$url/api/v1/openapi.json" -o "$work/openapi.json"
"$venv/bin/python" -c 'import json, sys; from openapi_spec_validator import validate; validate(json.load(open(sys.argv[1]))); print("OpenAPI document valid")' "$work/openapi.json"

# Schemathesis 4.3x signs itself up when it finds a register and a login operation sharing
# credentials; it takes POST /api/v1/user (an admin route) for one and then crashes on its $ref
# body. The runs here are anonymous or use the admin key, as intended: no auto sign-up.
printf '[auth]\nauto-signup = false\n' >"$work/schemathesis.toml"
run() {
  # From the temp dir, so schemathesis's cache stays out of the checkout.
  (cd "$work" && "$PWD_ROOT/$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" \
    run "$url/api/v1/openapi.json" \
    --checks not_a_server_error \
    --max-examples "$examples" \
    --phases examples,coverage,fuzzing \
    --workers 2 \
    --generation-database none \
    --no-color \
    "$@")
}
# A run that stopped only because the tool itself crashed (CPython 3.11's "AST constructor
# recursion depth mismatch" inside hypothesis, seen intermittently) is repeated once; any check
# failure, such as a 5xx from keyward, fails at once.
run_checked() {
  local log="$work/schemathesis-$1.log"; shift
  for attempt in 1 2; do
    # pipefail: the pipeline fails when schemathesis does.
    if run "$@" 2>&1 | tee "$log"; then
      return 0
    fi
    if grep -qE '=+ FAILURES =+' "$log" || ! grep -q 'Runtime Error' "$log" || [ "$attempt" = 2 ]; then
      return 1
    fi
    echo "schemathesis crashed internally (no check failed); running it once more"
  done
}
echo "== schemathesis: anonymous"
run_checked anonymous
echo "== schemathesis: admin API key"
run_checked admin -H "Authorization: Bearer $admin_key"

if grep -q 'panicked' "$work/serve.log"; then
  echo "the server panicked:"; cat "$work/serve.log"; exit 1
fi
kill -TERM "$server_pid"
wait "$server_pid"
server_pid=""
echo "schemathesis: no server errors"
