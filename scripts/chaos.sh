#!/usr/bin/env bash
# The fault-injection suite: real `convo serve` processes, a PostgreSQL cluster and a broker of the
# suite's own, mixed HTTP and Kafka load, and at random moments: kill -9 of the whole service, of
# one of two instances, a third instance joining, a broker outage, a PostgreSQL restart. After
# each round `convo verify` must pass and every acknowledged command must be stored; after each
# fault every partition must be consumed again within 15 s. docs/reliability.md describes it.
#
#   scripts/chaos.sh [--rounds N] [--seed S] [--scenarios kill_all,kill_one,scale_out,broker_restart,db_restart]
#
# Broker: CONVO_BROKER=tansu (default) or noida. Ports as for scripts/test.sh (the suite's own
# cluster and broker take free ports). Figures: printed at the end, and in
# /tmp/convo-chaos-<pid>/figures.json with the instances' logs.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --seed) export CONVO_CHAOS_SEED=$2; shift 2 ;;
    --scenarios) export CONVO_CHAOS_SCENARIOS=$2; shift 2 ;;
    -h | --help) sed -n 2,14p "$0"; exit 0 ;;
    *) printf 'unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
  esac
done
[[ $rounds =~ ^[0-9]+$ ]] || { printf -- '--rounds must be a number\n' >&2; exit 2; }
export CONVO_CHAOS_ROUNDS=$rounds

cd "$repo"
if ! cargo nextest --version >/dev/null 2>&1; then
  printf 'scripts/chaos.sh needs cargo-nextest (cargo install cargo-nextest --locked)\n' >&2
  exit 2
fi
# shellcheck source=scripts/lib.sh
source "$repo/scripts/lib.sh"
convo_sqlx_offline_auto "$repo"
# The suite runs the binary as child processes (scripts/test.sh builds it with the tests' profile).
exec bash "$repo/scripts/test.sh" --run-ignored only --no-capture -E 'test(=chaos::fault_injection)'
