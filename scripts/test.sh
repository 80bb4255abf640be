#!/usr/bin/env bash
# The project's test command: brings up a throw-away PostgreSQL cluster and broker, runs the
# workspace tests against them and tears everything down again.
#
#   scripts/test.sh [ARGS...]    ARGS go to the test runner (`cargo nextest run` if installed,
#                                else `cargo test`), e.g. `scripts/test.sh -p convo-store`
#
# Broker: CONVO_BROKER=tansu (default) or noida (see scripts/lib.sh).
# Ports: CONVO_PG_PORT (default 54339), CONVO_KAFKA_PORT (default 19192), separate from run.sh's.
# State: CONVO_TEST_STATE_DIR (default /tmp/convo-test-$CONVO_PG_PORT), deleted at the start of each
# run so tests never see old data. CONVO_STATE_DIR is deliberately ignored here so that a value meant
# for run.sh can never get its data deleted. Concurrent runs on the same ports wait for each other.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

export CONVO_PG_PORT=${CONVO_PG_PORT:-54339}
export CONVO_KAFKA_PORT=${CONVO_KAFKA_PORT:-19192}
export CONVO_STATE_DIR=${CONVO_TEST_STATE_DIR:-/tmp/convo-test-${CONVO_PG_PORT}}
case $CONVO_STATE_DIR in
  /tmp/?* | /var/tmp/?*) ;;
  *)
    printf '[convo] ERROR: refusing to use CONVO_TEST_STATE_DIR=%s (it is deleted on each run; use a folder under /tmp)\n' \
      "$CONVO_STATE_DIR" >&2
    exit 2
    ;;
esac

# One test run per port pair at a time; the daemons never inherit this descriptor (lib.sh closes it).
exec 9>"/tmp/convo-test-${CONVO_PG_PORT}-${CONVO_KAFKA_PORT}.lock"
if ! flock -n 9; then
  printf '[convo] another scripts/test.sh run uses ports %s/%s; waiting for it to finish\n' \
    "$CONVO_PG_PORT" "$CONVO_KAFKA_PORT" >&2
  flock 9
fi

trap convo_stack_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A previous run that crashed may have left its servers running: stop them, then start afresh.
convo_stack_down
if [[ -e $CONVO_STATE_DIR ]]; then
  printf '[convo] deleting old test state %s\n' "$CONVO_STATE_DIR" >&2
  rm -rf "$CONVO_STATE_DIR"
fi

convo_pg_up
# CONVO_BROKER (tansu or noida) picks the broker; convo_broker_up exports CONVO_BROKER_BIN, with
# which the broker tests start brokers of their own (outages).
convo_broker_up

cd "$repo"
# CI sets CONVO_CHECK_SQLX=1: the committed .sqlx data must match the queries and migrations.
if [[ ${CONVO_CHECK_SQLX:-0} == 1 ]]; then
  convo_sqlx_check "$repo"
fi
convo_sqlx_offline_auto "$repo"
# Some tests run the `convo` binary itself (its argument checks, the fault suite): build it with
# the tests' profile first (a fresh clone has none).
cargo build -p convo --locked 9>&-
if cargo nextest --version >/dev/null 2>&1; then
  runner=(cargo nextest run --workspace --no-fail-fast "$@")
else
  runner=(cargo test --workspace "$@")
fi
printf '[convo] running: %s\n' "${runner[*]}" >&2
status=0
# The runner must not hold the lock's descriptor: a process the tests start (a broker of their own)
# could outlive a crashed test and keep every later run waiting.
"${runner[@]}" 9>&- || status=$?
exit "$status"
