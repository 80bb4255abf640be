#!/usr/bin/env bash
# Stops the PostgreSQL cluster and the broker that scripts/run.sh started (same CONVO_PG_PORT,
# CONVO_KAFKA_PORT and CONVO_STATE_DIR as run.sh). PostgreSQL data stays in CONVO_STATE_DIR for the
# next run; delete that folder to start from an empty database.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"

convo_stack_down
printf '[convo] stopped\n' >&2
