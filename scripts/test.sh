#!/usr/bin/env bash
# The whole test suite: lint, types, unit, replay, adapter, CRM (SQLite and PostgreSQL), e2e on
# the lab Asterisk with SIPp and pjsua2 phones, and browser tests in Chromium.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m "not e2e"`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

# PostgreSQL on loopback for the store and CRM tests: start it, or install it, if missing.
if ! pg_isready -q -h 127.0.0.1 2>/dev/null; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "test: installing PostgreSQL"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
fi
if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
  # A stock Debian server asks loopback clients for a password: give the test role one.
  runuser -u postgres -- psql -q -c "ALTER ROLE postgres PASSWORD 'cti-test'"
  export PGPASSWORD=cti-test
fi

# Redis for the multi-node tests: each test runs a redis-server of its own on a free port.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "test: installing Redis"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports

set +e
.venv/bin/pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "test: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$status"
