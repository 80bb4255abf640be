# shellcheck shell=bash
# Shared helpers for scripts/test.sh, scripts/run.sh and scripts/stop.sh.
#
# Source it (`source scripts/lib.sh`); it defines functions and sets no shell options, so it is also
# safe to source from an interactive shell. Every function returns non-zero on failure.
#
#   convo_pg_up        private PostgreSQL cluster in $CONVO_STATE_DIR/pg (initdb once, then reused),
#                      database $CONVO_PG_DB; exports DATABASE_URL
#   convo_pg_down      fast stop of that cluster (no-op when it is not running)
#   convo_broker_up    a Kafka-protocol broker ($CONVO_BROKER) on 127.0.0.1:$CONVO_KAFKA_PORT, installed
#                      into $CONVO_TOOLS_DIR on first use; exports KAFKA_BROKERS, CONVO_BROKER and
#                      CONVO_BROKER_BIN (tests start brokers of their own with it)
#   convo_broker_down  stops the broker started by convo_broker_up (pid file; no-op if not running)
#   convo_stack_up     both ups;  convo_stack_down: both downs
#   convo_sqlx_offline_auto REPO   exports SQLX_OFFLINE=true when prepared .sqlx query data exists
#
# Environment (defaults are applied when the functions run, so set these before calling them):
#   CONVO_PG_PORT      PostgreSQL port                       (default 54329)
#   CONVO_PG_DB        database name                         (default convo)
#   CONVO_KAFKA_PORT   broker port                           (default 19092)
#   CONVO_STATE_DIR    state dir: pg data, sockets, logs, pid files
#                      (default /tmp/convo-state-$CONVO_PG_PORT; must be traversable by the
#                      `postgres` user, so never under /root or inside the repo)
#   CONVO_BROKER       tansu (default: `cargo install tansu`, in-memory storage) or noida (noida-db
#                      from PyPI into a virtualenv, data in the state dir); one variable picks the
#                      broker for run.sh, test.sh, the tests' own brokers and scripts/chaos.sh
#   CONVO_TOOLS_DIR    where the brokers are installed       (default $HOME/.cache/convo/tools)
#   CONVO_TANSU_BIN    use this tansu binary instead of installing one (optional)
#
# Layout of the state dir:
#   pg/data  pg/sock  pg/postgres.log    broker/cwd (empty)  broker/broker.log  broker/broker.pid
#   broker/noida-data (noida-db only)
#
# The Debian cluster (15/main) is never touched: the private cluster has its own data dir, port and
# socket dir.

CONVO_TANSU_VERSION=0.6.0
CONVO_NOIDA_VERSION=0.2.3
CONVO_NOIDA_SHA256=40a2fb15567e3d344e7483df62bb439e7d64ac6fb232f4f223554aed58204f82

_convo_log() {
  printf '[convo] %s\n' "$*" >&2
}

_convo_die() {
  printf '[convo] ERROR: %s\n' "$*" >&2
  return 1
}

_convo_defaults() {
  : "${CONVO_PG_PORT:=54329}"
  : "${CONVO_PG_DB:=convo}"
  : "${CONVO_KAFKA_PORT:=19092}"
  : "${CONVO_STATE_DIR:=/tmp/convo-state-${CONVO_PG_PORT}}"
  : "${CONVO_TOOLS_DIR:=${HOME:-/root}/.cache/convo/tools}"
  : "${CONVO_BROKER:=tansu}"
  if ! [[ $CONVO_PG_PORT =~ ^[0-9]+$ && $CONVO_KAFKA_PORT =~ ^[0-9]+$ ]]; then
    _convo_die "CONVO_PG_PORT and CONVO_KAFKA_PORT must be numbers (got '$CONVO_PG_PORT', '$CONVO_KAFKA_PORT')"
    return 1
  fi
  if ! [[ $CONVO_PG_DB =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then
    _convo_die "CONVO_PG_DB must be a plain identifier (got '$CONVO_PG_DB')"
    return 1
  fi
  case $CONVO_STATE_DIR in
    /*) ;;
    *) CONVO_STATE_DIR="$PWD/$CONVO_STATE_DIR" ;;
  esac
  case $CONVO_TOOLS_DIR in
    /*) ;;
    *) CONVO_TOOLS_DIR="$PWD/$CONVO_TOOLS_DIR" ;;
  esac
  export CONVO_PG_PORT CONVO_PG_DB CONVO_KAFKA_PORT CONVO_STATE_DIR CONVO_TOOLS_DIR CONVO_BROKER
}

# Runs "$@" while holding the state dir's lock, so that concurrent callers using the same state dir
# (two run.sh, run.sh and stop.sh) do not race. Daemons are started with their descriptors closed,
# so they never hold this lock.
_convo_locked() {
  local fd rc=0
  mkdir -p "$CONVO_STATE_DIR" || return 1
  chmod 0755 "$CONVO_STATE_DIR" 2>/dev/null || true
  exec {fd}>>"$CONVO_STATE_DIR/.lock" || return 1
  if ! flock -n "$fd"; then
    _convo_log "waiting for another convo script using $CONVO_STATE_DIR"
    flock "$fd" || { exec {fd}>&-; return 1; }
  fi
  "$@" || rc=$?
  exec {fd}>&-
  return "$rc"
}

# True when PID names a live (non-zombie) process.
_convo_pid_alive() {
  local pid=$1 stat state
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  state=${stat##*) }
  state=${state%% *}
  [[ $state != Z && $state != X ]]
}

# The short command name (comm) of PID, empty if it does not exist.
_convo_pid_comm() {
  cat "/proc/$1/comm" 2>/dev/null || true
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
_convo_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Closes every file descriptor above 2 of the current (sub)shell, so that daemons started from it do
# not hold lock files or a caller's pipes (a CI runner waiting for EOF) open for their lifetime.
_convo_close_fds() {
  local fd n
  for fd in /proc/"${BASHPID}"/fd/*; do
    n=${fd##*/}
    if [[ $n =~ ^[0-9]+$ ]] && ((n > 2)); then
      eval "exec ${n}>&-" 2>/dev/null || true
    fi
  done
}

# Runs a command as the user that owns the cluster: `postgres` when we are root (the server refuses to
# run as root), else the current user. Runs from / so the postgres user never needs our cwd.
_convo_as_pg() {
  if ((EUID == 0)); then
    (cd / && exec runuser -u postgres -- "$@")
  else
    (cd / && exec "$@")
  fi
}

# ---------------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------------

# Sets CONVO_PG_BINDIR to the newest installed server (or to the one matching an existing cluster),
# installing the `postgresql` package when no server is installed.
_convo_pg_bindir() {
  local data=$1 initdb_path ver
  if [[ -f $data/PG_VERSION ]]; then
    ver=$(<"$data/PG_VERSION")
    if [[ -x /usr/lib/postgresql/$ver/bin/postgres ]]; then
      CONVO_PG_BINDIR=/usr/lib/postgresql/$ver/bin
      return 0
    fi
    _convo_die "cluster $data was made by PostgreSQL $ver, whose server is not installed; install postgresql-$ver or delete $CONVO_STATE_DIR"
    return 1
  fi
  initdb_path=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
  if [[ -z $initdb_path ]]; then
    if ((EUID != 0)); then
      _convo_die "no PostgreSQL server in /usr/lib/postgresql/*/bin; install it as root: apt-get update && apt-get install -y postgresql"
      return 1
    fi
    _convo_log "no PostgreSQL server found; installing it (apt-get install postgresql)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }; then
      _convo_die "apt-get install postgresql failed"
      return 1
    fi
    initdb_path=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n 1 || true)
    [[ -n $initdb_path ]] || { _convo_die "postgresql installed but no initdb in /usr/lib/postgresql/*/bin"; return 1; }
  fi
  CONVO_PG_BINDIR=${initdb_path%/initdb}
}

# True when the postmaster recorded in DATA/postmaster.pid is alive (pid reuse does not count).
_convo_pg_running() {
  local data=$1 pid
  [[ -f $data/postmaster.pid ]] || return 1
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
  _convo_pid_alive "$pid" || return 1
  [[ $(_convo_pid_comm "$pid") == postgres ]] || return 1
  _convo_as_pg "$CONVO_PG_BINDIR/pg_ctl" status -D "$data" >/dev/null 2>&1
}

# Removes lock files left by a server that is gone (crash, kill -9, reboot). Postgres cleans up most
# of these itself, but refuses to start when the recorded pid now belongs to another process.
_convo_pg_clear_stale() {
  local data=$1 sock=$2 pid f
  if [[ -f $data/postmaster.pid ]]; then
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
    _convo_log "removing stale postmaster.pid (pid ${pid:-?} is not a running postgres)"
    rm -f "$data/postmaster.pid"
  fi
  for f in "$sock"/.s.PGSQL.*; do
    [[ -e $f ]] || continue
    rm -f "$f"
  done
}

_convo_pg_up_locked() {
  local pgdir=$CONVO_STATE_DIR/pg
  local data=$pgdir/data sock=$pgdir/sock log=$pgdir/postgres.log
  local owner=postgres running_port
  ((EUID == 0)) || owner=$(id -un)

  _convo_pg_bindir "$data" || return 1
  ((EUID != 0)) || id postgres >/dev/null 2>&1 || { _convo_die "user 'postgres' does not exist"; return 1; }

  # State dir: world-traversable; pg/ belongs to the cluster's owner.
  mkdir -p "$CONVO_STATE_DIR" || return 1
  chmod 0755 "$CONVO_STATE_DIR" 2>/dev/null || true
  mkdir -p "$pgdir" "$sock" || return 1
  chown "$owner:" "$pgdir" "$sock" || return 1
  chmod 0700 "$pgdir" || return 1
  chmod 0755 "$sock" || return 1
  if ! _convo_as_pg test -w "$pgdir"; then
    _convo_die "$pgdir is not writable by '$owner' (is CONVO_STATE_DIR=$CONVO_STATE_DIR under a private folder such as /root?)"
    return 1
  fi

  # Initialise once; a data dir without PG_VERSION is a half-done initdb: start it over.
  if [[ ! -f $data/PG_VERSION ]]; then
    rm -rf "$data"
    _convo_log "initialising private PostgreSQL $(basename "$(dirname "$CONVO_PG_BINDIR")") cluster in $data"
    if ! _convo_as_pg "$CONVO_PG_BINDIR/initdb" -D "$data" --auth=trust -U postgres \
      --encoding=UTF8 --locale=C >"$CONVO_STATE_DIR/initdb.log" 2>&1; then
      tail -n 20 "$CONVO_STATE_DIR/initdb.log" >&2
      _convo_die "initdb failed (log: $CONVO_STATE_DIR/initdb.log)"
      return 1
    fi
  else
    _convo_log "reusing PostgreSQL cluster in $data"
  fi

  if _convo_pg_running "$data"; then
    running_port=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
    if [[ $running_port == "$CONVO_PG_PORT" ]]; then
      _convo_log "PostgreSQL already running on port $CONVO_PG_PORT"
    else
      _convo_log "PostgreSQL is running on port ${running_port:-?}, not $CONVO_PG_PORT: restarting it"
      _convo_as_pg "$CONVO_PG_BINDIR/pg_ctl" -D "$data" -m fast -w stop >/dev/null || return 1
    fi
  fi

  if ! _convo_pg_running "$data"; then
    _convo_pg_clear_stale "$data" "$sock"
    if _convo_port_open "$CONVO_PG_PORT"; then
      _convo_die "port $CONVO_PG_PORT is already in use by another process; set CONVO_PG_PORT to a free port"
      return 1
    fi
    _convo_log "starting PostgreSQL on 127.0.0.1:$CONVO_PG_PORT (log: $log)"
    if ! (
      _convo_close_fds
      _convo_as_pg "$CONVO_PG_BINDIR/pg_ctl" -D "$data" -l "$log" -w -t 60 -s start \
        -o "-p $CONVO_PG_PORT -k $sock -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB"
    ) >&2; then
      tail -n 30 "$log" >&2 2>/dev/null || true
      _convo_die "PostgreSQL failed to start (log: $log)"
      return 1
    fi
  fi

  local psql=("$CONVO_PG_BINDIR/psql" -X -q -t -A -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$CONVO_PG_PORT" -U postgres)
  local exists
  exists=$("${psql[@]}" -d postgres -v dbname="$CONVO_PG_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'dbname';") || {
    _convo_die "cannot query PostgreSQL on 127.0.0.1:$CONVO_PG_PORT"
    return 1
  }
  if [[ $exists != 1 ]]; then
    _convo_log "creating database $CONVO_PG_DB"
    "${psql[@]}" -d postgres -v dbname="$CONVO_PG_DB" <<<'CREATE DATABASE :"dbname";' || {
      _convo_die "CREATE DATABASE $CONVO_PG_DB failed"
      return 1
    }
  fi

  export CONVO_PG_BINDIR
  export DATABASE_URL="postgres://postgres@127.0.0.1:${CONVO_PG_PORT}/${CONVO_PG_DB}"
  _convo_log "PostgreSQL ready: DATABASE_URL=$DATABASE_URL"
}

_convo_pg_down_locked() {
  local data=$CONVO_STATE_DIR/pg/data
  if [[ ! -f $data/postmaster.pid ]]; then
    return 0
  fi
  _convo_pg_bindir "$data" || return 1
  if ! _convo_pg_running "$data"; then
    _convo_log "PostgreSQL ($data) is not running"
    return 0
  fi
  _convo_log "stopping PostgreSQL on port $(sed -n 4p "$data/postmaster.pid" 2>/dev/null || echo '?')"
  _convo_as_pg "$CONVO_PG_BINDIR/pg_ctl" -D "$data" -m fast -w -s stop >&2 || {
    _convo_die "pg_ctl stop failed for $data"
    return 1
  }
}

convo_pg_up() {
  _convo_defaults || return 1
  _convo_locked _convo_pg_up_locked
}

convo_pg_down() {
  _convo_defaults || return 1
  [[ -d $CONVO_STATE_DIR ]] || return 0
  _convo_locked _convo_pg_down_locked
}

# ---------------------------------------------------------------------------------------------------
# Broker: tansu (default) or noida-db, chosen by CONVO_BROKER
# ---------------------------------------------------------------------------------------------------

# Checks CONVO_BROKER and sets CONVO_BROKER_BIN to that broker's binary, installing it on first use.
_convo_broker_bin() {
  case $CONVO_BROKER in
    tansu) _convo_tansu_bin ;;
    noida) _convo_noida_bin ;;
    *)
      _convo_die "CONVO_BROKER must be tansu or noida (got '$CONVO_BROKER')"
      return 1
      ;;
  esac
}

# tansu: `cargo install` into $CONVO_TOOLS_DIR (or CONVO_TANSU_BIN).
_convo_tansu_bin() {
  if [[ -n ${CONVO_TANSU_BIN:-} ]]; then
    [[ -x $CONVO_TANSU_BIN ]] || { _convo_die "CONVO_TANSU_BIN=$CONVO_TANSU_BIN is not executable"; return 1; }
    CONVO_BROKER_BIN=$CONVO_TANSU_BIN
    return 0
  fi
  CONVO_BROKER_BIN=$CONVO_TOOLS_DIR/bin/tansu
  [[ -x $CONVO_BROKER_BIN ]] && return 0

  local cargo
  cargo=$(command -v cargo || true)
  [[ -n $cargo || ! -x ${HOME:-/root}/.cargo/bin/cargo ]] || cargo=${HOME:-/root}/.cargo/bin/cargo
  [[ -n $cargo ]] || { _convo_die "tansu is not installed and cargo is not on PATH"; return 1; }
  mkdir -p "$CONVO_TOOLS_DIR" || return 1

  local install_log=$CONVO_TOOLS_DIR/tansu-install.log
  # The lock serialises concurrent installs; whoever waited finds the binary there afterwards.
  (
    flock 8 || exit 1
    [[ -x $CONVO_BROKER_BIN ]] && exit 0
    # Outside the repo, so no project .cargo/config.toml applies to this build.
    cd "$CONVO_TOOLS_DIR" || exit 1
    _convo_log "installing tansu $CONVO_TANSU_VERSION into $CONVO_TOOLS_DIR with cargo install (about 8 minutes on 2 cores; log: $install_log)"
    if ! CARGO_TARGET_DIR=$CONVO_TOOLS_DIR/target "$cargo" install tansu --version "$CONVO_TANSU_VERSION" \
      --locked --features dynostore --root "$CONVO_TOOLS_DIR" >"$install_log" 2>&1; then
      tail -n 30 "$install_log" >&2
      _convo_die "cargo install tansu failed (log: $install_log)"
      exit 1
    fi
    _convo_log "tansu installed: $CONVO_BROKER_BIN"
  ) 8>"$CONVO_TOOLS_DIR/.install.lock" || return 1
  [[ -x $CONVO_BROKER_BIN ]] || { _convo_die "tansu install finished but $CONVO_BROKER_BIN is missing"; return 1; }
}

# noida-db: the PyPI wheel (hash-pinned) into a virtualenv in $CONVO_TOOLS_DIR; the binary it
# ships is linked as $CONVO_TOOLS_DIR/bin/noida-db and run directly (its Python launcher would
# leave the broker running when the launcher is killed).
_convo_noida_bin() {
  CONVO_BROKER_BIN=$CONVO_TOOLS_DIR/bin/noida-db
  [[ -x $CONVO_BROKER_BIN ]] && return 0
  mkdir -p "$CONVO_TOOLS_DIR/bin" || return 1
  local venv=$CONVO_TOOLS_DIR/noida-db-$CONVO_NOIDA_VERSION log=$CONVO_TOOLS_DIR/noida-install.log
  (
    flock 8 || exit 1
    [[ -x $CONVO_BROKER_BIN ]] && exit 0
    _convo_python_venv "$venv" || exit 1
    _convo_log "installing noida-db $CONVO_NOIDA_VERSION into $venv (log: $log)"
    printf 'noida-db==%s --hash=sha256:%s\n' "$CONVO_NOIDA_VERSION" "$CONVO_NOIDA_SHA256" >"$venv/requirements.txt"
    if ! "$venv/bin/python" -m pip install --no-deps --require-hashes -r "$venv/requirements.txt" >"$log" 2>&1; then
      tail -n 20 "$log" >&2
      _convo_die "pip install noida-db failed (log: $log)"
      exit 1
    fi
    local bin
    bin=$(compgen -G "$venv/lib/python*/site-packages/noida_db/noida-db" | head -n 1)
    [[ -n $bin ]] || { _convo_die "the noida-db wheel has no binary in $venv"; exit 1; }
    chmod +x "$bin" && ln -sfn "$bin" "$CONVO_BROKER_BIN" || exit 1
    _convo_log "noida-db installed: $CONVO_BROKER_BIN"
  ) 8>"$CONVO_TOOLS_DIR/.noida-install.lock" || return 1
  [[ -x $CONVO_BROKER_BIN ]] || { _convo_die "noida-db install finished but $CONVO_BROKER_BIN is missing"; return 1; }
}

# Creates a Python virtualenv at DIR (with pip), installing Debian's python3-venv when the
# interpreter cannot make one.
_convo_python_venv() {
  local dir=$1 python
  [[ -x $dir/bin/python ]] && "$dir/bin/python" -m pip --version >/dev/null 2>&1 && return 0
  python=$(command -v python3 || true)
  if [[ -z $python ]] || ! "$python" -m venv --help >/dev/null 2>&1 || ! "$python" -c 'import ensurepip' 2>/dev/null; then
    ((EUID == 0)) || { _convo_die "python3 with venv is needed for noida-db: apt-get install -y python3-venv (as root)"; return 1; }
    _convo_log "installing python3-venv (apt-get) for noida-db"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -q >&2 && apt-get install -y -q python3-venv >&2; } || { _convo_die "apt-get install python3-venv failed"; return 1; }
    python=/usr/bin/python3
  fi
  rm -rf "$dir"
  "$python" -m venv "$dir" >&2 || { _convo_die "$python -m venv $dir failed"; return 1; }
}

# True when a Kafka-protocol broker answers on 127.0.0.1:PORT: an ApiVersions v0 request (api key
# 18, correlation id 7, client id "cvo") gets a reply carrying correlation id 7. Works for any
# broker, with nothing but bash.
_convo_broker_answers() {
  _convo_port_open "$1" || return 1
  local reply
  reply=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0d\x00\x12\x00\x00\x00\x00\x00\x07\x00\x03cvo" >&3
    head -c 8 <&3 | od -An -tx1' _ "$1" 2>/dev/null) || return 1
  reply=$(printf '%s' "$reply" | tr -s ' \n' ' ')
  [[ $reply == *"00 00 00 07"* ]]
}

# Prints the pid from the pid file if it names a live broker process (tansu.pid: written by
# earlier versions of these scripts).
_convo_broker_pid() {
  local pidfile=$CONVO_STATE_DIR/broker/broker.pid pid
  [[ -f $pidfile ]] || pidfile=$CONVO_STATE_DIR/broker/tansu.pid
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  _convo_pid_alive "$pid" || return 1
  [[ $(_convo_pid_comm "$pid") == @(tansu|noida-db) ]] || return 1
  printf '%s\n' "$pid"
}

# Starts the chosen broker in the background from the current (sub)shell; its pid goes to PIDFILE.
# tansu keeps its data in memory (a restart starts empty); noida-db keeps it in broker/noida-data.
_convo_broker_spawn() {
  local url=$1 log=$2 pidfile=$3 dir=$CONVO_STATE_DIR/broker
  _convo_close_fds
  # tansu reads a .env from its working directory: give it an empty one.
  rm -rf "$dir/cwd" && mkdir -p "$dir/cwd" && cd "$dir/cwd" || return 1
  # tansu's other settings also come from these variables: keep a caller's values out (RUST_LOG
  # meant for convo, as in `RUST_LOG=info,convo_api=debug scripts/run.sh`, is not tansu's: with
  # it, tansu's log grew to 9.5 GB in half an hour).
  unset CLUSTER_ID SCHEMA_REGISTRY OTEL_EXPORTER_OTLP_ENDPOINT LISTENER_URL ADVERTISED_LISTENER_URL STORAGE_ENGINE RUST_LOG
  local args
  case $CONVO_BROKER in
    tansu) args=(broker --listener-url "$url" --advertised-listener-url "$url" --storage-engine memory://tansu/) ;;
    noida) args=(start --only kafka --host 127.0.0.1 --kafka-port "$CONVO_KAFKA_PORT" --data-dir "$dir/noida-data") ;;
  esac
  # setsid: own session, so Ctrl-C on the caller's terminal does not reach the broker.
  setsid "$CONVO_BROKER_BIN" "${args[@]}" </dev/null >>"$log" 2>&1 &
  printf '%s\n' "$!" >"$pidfile"
}

_convo_broker_up_locked() {
  local dir=$CONVO_STATE_DIR/broker
  local log=$dir/broker.log pidfile=$dir/broker.pid
  local url=tcp://127.0.0.1:$CONVO_KAFKA_PORT pid

  if _convo_broker_answers "$CONVO_KAFKA_PORT"; then
    if pid=$(_convo_broker_pid); then
      _convo_log "broker already running on $url (pid $pid, $(_convo_pid_comm "$pid"))"
    else
      _convo_log "a broker is already answering on $url (not started by these scripts); reusing it"
    fi
  else
    if pid=$(_convo_broker_pid); then
      _convo_log "broker pid $pid does not answer on $url; restarting it"
      _convo_broker_down_locked || return 1
    fi
    if _convo_port_open "$CONVO_KAFKA_PORT"; then
      _convo_die "port $CONVO_KAFKA_PORT is in use by something that is not a Kafka broker; set CONVO_KAFKA_PORT to a free port"
      return 1
    fi
    mkdir -p "$dir" || return 1
    rm -f "$pidfile"
    _convo_log "starting $CONVO_BROKER broker on $url (log: $log)"
    (_convo_broker_spawn "$url" "$log" "$pidfile") || return 1
    pid=$(<"$pidfile")
    local deadline=$((SECONDS + 30))
    until _convo_broker_answers "$CONVO_KAFKA_PORT"; do
      if ! _convo_pid_alive "$pid"; then
        tail -n 30 "$log" >&2 2>/dev/null || true
        _convo_die "$CONVO_BROKER broker exited during startup (log: $log)"
        return 1
      fi
      if ((SECONDS >= deadline)); then
        tail -n 30 "$log" >&2 2>/dev/null || true
        _convo_die "$CONVO_BROKER broker did not answer on $url within 30 s (log: $log)"
        _convo_broker_down_locked || true
        return 1
      fi
      sleep 0.2
    done
    _convo_log "broker started (pid $pid)"
  fi
  export KAFKA_BROKERS=127.0.0.1:$CONVO_KAFKA_PORT
  _convo_log "broker ready: KAFKA_BROKERS=$KAFKA_BROKERS"
}

_convo_broker_down_locked() {
  local pidfile=$CONVO_STATE_DIR/broker/broker.pid pid i
  if ! pid=$(_convo_broker_pid); then
    rm -f "$pidfile" "$CONVO_STATE_DIR/broker/tansu.pid"
    return 0
  fi
  _convo_log "stopping $(_convo_pid_comm "$pid") broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    _convo_pid_alive "$pid" || break
    sleep 0.2
  done
  if _convo_pid_alive "$pid"; then
    _convo_log "broker did not stop within 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile" "$CONVO_STATE_DIR/broker/tansu.pid"
}

convo_broker_up() {
  _convo_defaults || return 1
  _convo_broker_bin || return 1
  export CONVO_BROKER CONVO_BROKER_BIN
  _convo_locked _convo_broker_up_locked
}

convo_broker_down() {
  _convo_defaults || return 1
  [[ -d $CONVO_STATE_DIR ]] || return 0
  _convo_locked _convo_broker_down_locked
}

# ---------------------------------------------------------------------------------------------------
# Build helpers
# ---------------------------------------------------------------------------------------------------

# sqlx's query! macros check SQL against the database in DATABASE_URL while compiling, and a fresh
# test database has no schema yet. When prepared query data (`cargo sqlx prepare --workspace`) is
# committed, build from it instead (SQLX_OFFLINE=true), unless the caller already set SQLX_OFFLINE.
convo_sqlx_offline_auto() {
  local repo=$1
  [[ -z ${SQLX_OFFLINE:-} ]] || return 0
  if [[ -d $repo/.sqlx ]] || compgen -G "$repo/crates/*/.sqlx" >/dev/null; then
    export SQLX_OFFLINE=true
    _convo_log "using prepared sqlx query data (.sqlx): SQLX_OFFLINE=true"
  fi
}

# ---------------------------------------------------------------------------------------------------
# Both
# ---------------------------------------------------------------------------------------------------

convo_stack_up() {
  convo_pg_up || return 1
  convo_broker_up || return 1
}

convo_stack_down() {
  local rc=0
  convo_broker_down || rc=1
  convo_pg_down || rc=1
  return "$rc"
}

# Checks that the committed .sqlx query data matches the queries and the migrated schema: installs
# sqlx-cli into $CONVO_TOOLS_DIR when missing (a few minutes, once per machine), migrates
# $DATABASE_URL and runs `cargo sqlx prepare --check`. Call after convo_pg_up.
convo_sqlx_check() {
  local repo=$1 tools=${CONVO_TOOLS_DIR:-$HOME/.cache/convo/tools}
  if [[ ! -x $tools/bin/sqlx ]]; then
    _convo_log "installing sqlx-cli 0.8 into $tools (a few minutes, once per machine)"
    CARGO_TARGET_DIR=$tools/target cargo install sqlx-cli --version '^0.8' --locked \
      --no-default-features --features postgres --root "$tools" >"$tools/sqlx-install.log" 2>&1 || {
      tail -n 20 "$tools/sqlx-install.log" >&2
      return 1
    }
  fi
  _convo_log "checking .sqlx query data against the migrated schema"
  (
    cd "$repo"
    export PATH=$tools/bin:$PATH
    unset SQLX_OFFLINE
    cargo sqlx migrate run --source crates/convo-store/migrations >/dev/null
    cargo sqlx prepare --workspace --check
  )
}
