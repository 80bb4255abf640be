#!/usr/bin/env bash
# Benchmarks: brings up a throw-away PostgreSQL cluster (fsync on) and tansu broker on their own
# ports, builds convo-bench in release mode, runs it and tears everything down.
#
#   scripts/bench.sh [ARGS...]    ARGS go to convo-bench, e.g. --events 100000 --only relay
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

export CONVO_PG_PORT=${CONVO_PG_PORT:-54349}
export CONVO_KAFKA_PORT=${CONVO_KAFKA_PORT:-19292}
export CONVO_STATE_DIR=/tmp/convo-bench-${CONVO_PG_PORT}

trap convo_stack_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
convo_stack_down
rm -rf "$CONVO_STATE_DIR"
convo_pg_up
convo_broker_up

cd "$repo"
convo_sqlx_offline_auto "$repo"
cargo build --release -p convo -p convo-bench
bin=${CARGO_TARGET_DIR:-$repo/target}/release/convo-bench
"$bin" "$@"
