#!/usr/bin/env bash
# The project's run command: makes sure the local PostgreSQL cluster and the broker are up, builds
# the release binary, applies migrations and runs the server in the foreground.
#
#   scripts/run.sh [ARGS...]     ARGS go to `convo serve`
#
# Ports: CONVO_PG_PORT (default 54329), CONVO_KAFKA_PORT (default 19092). PostgreSQL data persists
# in CONVO_STATE_DIR (default /tmp/convo-state-$CONVO_PG_PORT) across runs. CONVO_BROKER picks the
# broker: tansu (default) keeps its data in memory only, so topics and records are gone once it
# stops; noida (noida-db) keeps them in the state dir.
#
# Ctrl-C stops only the server: PostgreSQL and the broker keep running (the next run.sh reuses
# them). `scripts/stop.sh` stops them.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

convo_pg_up
# tansu keeps its records in memory: one started now is empty, whatever the database says was
# published to it or consumed from it before.
fresh_broker=0
if [[ ${CONVO_BROKER:-tansu} == tansu ]] && ! _convo_broker_pid >/dev/null; then
  fresh_broker=1
fi
convo_broker_up

cd "$repo"
convo_sqlx_offline_auto "$repo"
printf '[convo] building: cargo build --release -p convo\n' >&2
cargo build --release -p convo
bin=${CARGO_TARGET_DIR:-$repo/target}/release/convo

# Development tokens: the service verifies HS256 tokens with this secret, and `convo dev-token`
# signs with it. For anything real set CONVO_JWT_PUBLIC_KEYS / CONVO_JWKS_FILE: the secret is then
# ignored unless CONVO_ALLOW_DEVELOPMENT_TOKENS=true.
export CONVO_JWT_SECRET=${CONVO_JWT_SECRET:-convo-local-development-secret-not-for-production}
export CONVO_LISTEN=${CONVO_LISTEN:-127.0.0.1:8080}

printf '[convo] applying migrations: convo migrate\n' >&2
"$bin" migrate
if ((fresh_broker)); then
  # The relay publishes every event again and the projectors and the intake read the new topics
  # from their start (events already applied are skipped by version), so the read models miss
  # nothing that was written while no broker ran.
  printf '[convo] the broker started empty: the relay publishes every stored event again; consumers start from the first record\n' >&2
  "$CONVO_PG_BINDIR/psql" -qX -v ON_ERROR_STOP=1 "$DATABASE_URL" \
    -c 'DELETE FROM relay_positions' -c 'UPDATE partition_claims SET next_offset = 0, owner = NULL' >/dev/null
fi
printf '[convo] seeding demo conversations: convo demo\n' >&2
"$bin" demo --base-url "http://$CONVO_LISTEN"
printf '[convo] starting: convo serve %s (Ctrl-C stops the server; scripts/stop.sh stops PostgreSQL and the broker)\n' "$*" >&2
exec "$bin" serve "$@"
