# shellcheck shell=bash disable=SC2034
# tests/stack/lib.sh: shared settings and helpers for the local test stack scripts
# (up, down, status, ctl). Sourced, never executed.
#
# Design: one state dir (default <repo>/.stack, override CELERIAC_STACK_DIR) holds every
# service's data, logs and the pid files of exactly the processes the scripts started
# (pids/<service>.pid). Ports are fixed non-default loopback ports (overridable through
# CELERIAC_STACK_*_PORT) so the stack never clashes with system-wide services. As root,
# RabbitMQ runs as user `rabbitmq` and PostgreSQL as user `postgres` (runuser); as another
# user everything runs as that user.
#
# Deliberately not here: installing packages (tests/stack/deps) and anything that needs
# network access beyond loopback.

STACK_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$STACK_LIB_DIR/../.." && pwd)

# --- settings ------------------------------------------------------------------------------
AMQP_PORT=${CELERIAC_STACK_AMQP_PORT:-56720}
MGMT_PORT=${CELERIAC_STACK_MGMT_PORT:-15680}
DIST_PORT=${CELERIAC_STACK_DIST_PORT:-25680}
EPMD_PORT=${CELERIAC_STACK_EPMD_PORT:-43699}
PG_PORT=${CELERIAC_STACK_PG_PORT:-54329}
S3_PORT=${CELERIAC_STACK_S3_PORT:-45680}
STACK_HOST=127.0.0.1

RMQ_USER=celeriac
RMQ_PASS=celeriac
PG_DB=celeriac
PG_ROLE=celeriac
PG_PASS=celeriac
S3_KEY=S3RVER
S3_SECRET=S3RVER
S3_REGION=${CELERIAC_STACK_S3_REGION:-us-east-1}
S3_BUCKETS=${CELERIAC_S3_BUCKETS:-uploads reports}
S3_EVENTS_PUBLISH=${CELERIAC_S3_EVENTS_PUBLISH:-1}
S3_EVENTS_EXCHANGE=${CELERIAC_S3_EVENTS_EXCHANGE:-celeriac.s3events}
S3_EVENTS_QUEUE=${CELERIAC_S3_EVENTS_QUEUE:-s3.events}
S3_EVENTS_ROUTING_KEY=${CELERIAC_S3_EVENTS_ROUTING_KEY:-s3.events}

RMQ_BIN=/usr/lib/rabbitmq/bin
PG_BIN=${CELERIAC_STACK_PG_BIN:-/usr/lib/postgresql/15/bin}
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '[stack] %s\n' "$*" >&2; }
die() {
    printf '[stack] ERROR: %s\n' "$*" >&2
    exit 1
}

IS_ROOT=0
[ "$(id -u)" = 0 ] && IS_ROOT=1

# run_as USER CMD...: run CMD as USER when we are root, else as ourselves. From / because
# the caller's directory may not be readable by USER; all paths here are absolute.
run_as() {
    local user=$1
    shift
    if [ "$IS_ROOT" = 1 ]; then
        (cd / && runuser -u "$user" -- "$@")
    else
        "$@"
    fi
}

# _traversable USER PATH: can USER reach PATH (or its nearest existing ancestor)?
_traversable() {
    local user=$1 p=$2
    [ "$IS_ROOT" = 1 ] || return 0
    while [ ! -e "$p" ]; do p=$(dirname "$p"); done
    runuser -u "$user" -- test -x "$p" 2>/dev/null
}

# The state dir. When root and the default location is not reachable by the service
# users (e.g. a clone under /root), fall back to a fixed dir under /tmp derived from the
# repo path, so every script finds the same one.
if [ -n "${CELERIAC_STACK_DIR:-}" ]; then
    STATE=$CELERIAC_STACK_DIR
else
    STATE=$REPO_DIR/.stack
    if [ "$IS_ROOT" = 1 ] && id rabbitmq >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
        if ! _traversable rabbitmq "$REPO_DIR" || ! _traversable postgres "$REPO_DIR"; then
            STATE=/tmp/celeriac-stack-$(printf '%s' "$REPO_DIR" | cksum | cut -d' ' -f1)
        fi
    fi
fi
case $STATE in /*) ;; *) STATE=$(pwd)/$STATE ;; esac
PIDS=$STATE/pids
RMQ_DIR=$STATE/rabbitmq
PG_DIR=$STATE/postgres
S3_DIR=$STATE/s3

# Node name: unique per state dir (several stacks can coexist on other ports), stable
# across restarts so the same mnesia dir (durable queues, messages) is reused.
RMQ_NODE=celeriac$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)@localhost

# Postgres' unix socket dir; sockaddr_un paths are limited to 107 bytes.
PG_SOCK=$PG_DIR/sock
if [ ${#PG_SOCK} -gt 80 ]; then
    PG_SOCK=/tmp/celeriac-pgsock-$(printf '%s' "$STATE" | cksum | cut -d' ' -f1)
fi

RMQ_OWNER=$(id -un)
PG_OWNER=$(id -un)
AS_RMQ=() # command prefix that runs a program as RMQ_OWNER (for exec/setsid)
if [ "$IS_ROOT" = 1 ]; then
    RMQ_OWNER=rabbitmq
    PG_OWNER=postgres
    AS_RMQ=(runuser -u rabbitmq --)
fi

# --- pid files -------------------------------------------------------------------------------
pid_read() { # pid_read NAME -> prints the pid or nothing
    local f=$PIDS/$1.pid
    [ -s "$f" ] || return 1
    local p
    p=$(head -n1 "$f" | tr -dc '0-9')
    [ -n "$p" ] || return 1
    printf '%s\n' "$p"
}

pid_write() { # pid_write NAME PID
    mkdir -p "$PIDS"
    printf '%s\n' "$2" >"$PIDS/$1.pid"
}

pid_alive() { # pid_alive NAME: the recorded process exists (and is not a zombie)
    local p st
    p=$(pid_read "$1") || return 1
    kill -0 "$p" 2>/dev/null || return 1
    st=$(ps -o stat= -p "$p" 2>/dev/null | tr -d ' ')
    [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

# stop_pid NAME [GRACE_SECONDS]: SIGTERM the recorded pid, wait, then SIGKILL.
stop_pid() {
    local name=$1 grace=${2:-20} p i
    p=$(pid_read "$name") || {
        rm -f "$PIDS/$name.pid"
        return 0
    }
    if kill -0 "$p" 2>/dev/null; then
        kill -TERM "$p" 2>/dev/null || true
        for ((i = 0; i < grace * 10; i++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$p" 2>/dev/null; then
            log "$name (pid $p) did not stop after ${grace}s; sending SIGKILL"
            kill -KILL "$p" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$PIDS/$name.pid"
}

# --- ports -----------------------------------------------------------------------------------
port_open() { # port_open PORT: something accepts TCP connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/$STACK_HOST/$1") 2>/dev/null
}

port_listener_pid() { # port_listener_pid PORT: pid listening on PORT, if ss can tell
    ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1
}

# wait_for TIMEOUT_S DESCRIPTION CMD...: poll CMD every 0.25 s.
wait_for() {
    local timeout=$1 what=$2 i
    shift 2
    for ((i = 0; i < timeout * 4; i++)); do
        "$@" && return 0
        sleep 0.25
    done
    log "timed out after ${timeout}s waiting for $what"
    return 1
}

# --- RabbitMQ --------------------------------------------------------------------------------
# Environment for the server and for its CLI tools (same HOME = same Erlang cookie), passed
# through `env -i` so nothing from the caller's environment or /etc/rabbitmq leaks in.
RMQ_ENV=(
    PATH="$SYS_PATH" LANG=C.UTF-8 LC_ALL=C.UTF-8
    HOME="$RMQ_DIR/home"
    RABBITMQ_NODENAME="$RMQ_NODE"
    RABBITMQ_CONF_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
    RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
    RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
    RABBITMQ_LOG_BASE="$RMQ_DIR/log"
    RABBITMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
    RABBITMQ_NODE_IP_ADDRESS="$STACK_HOST"
    RABBITMQ_NODE_PORT="$AMQP_PORT"
    RABBITMQ_DIST_PORT="$DIST_PORT"
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    ERL_EPMD_PORT="$EPMD_PORT"
    ERL_EPMD_ADDRESS="$STACK_HOST"
)

# rmqctl ARGS...: rabbitmqctl against our node, as the node's user.
rmqctl() {
    (run_as "$RMQ_OWNER" env -i "${RMQ_ENV[@]}" "$RMQ_BIN/rabbitmqctl" \
        -n "$RMQ_NODE" "$@" 9>&-)
}

rmq_ready() { pid_alive rabbitmq && port_open "$AMQP_PORT" && port_open "$MGMT_PORT"; }
pg_ready() {
    pid_alive postgres && "$PG_BIN/pg_isready" -q -h "$STACK_HOST" -p "$PG_PORT" -d "$PG_DB" 2>/dev/null
}
s3_ready() { pid_alive s3 && port_open "$S3_PORT"; }

# --- exports -------------------------------------------------------------------------------------
stack_exports() {
    local kv
    for kv in \
        "CELERY_BROKER_URL=amqp://$RMQ_USER:$RMQ_PASS@$STACK_HOST:$AMQP_PORT//" \
        "CELERIAC_MANAGEMENT_URL=http://$RMQ_USER:$RMQ_PASS@$STACK_HOST:$MGMT_PORT/" \
        "DATABASE_URL=postgresql://$PG_ROLE:$PG_PASS@$STACK_HOST:$PG_PORT/$PG_DB" \
        "AWS_ENDPOINT_URL_S3=http://$STACK_HOST:$S3_PORT" \
        "AWS_ACCESS_KEY_ID=$S3_KEY" \
        "AWS_SECRET_ACCESS_KEY=$S3_SECRET" \
        "AWS_REGION=$S3_REGION" \
        "CELERIAC_S3_EVENTS_EXCHANGE=$S3_EVENTS_EXCHANGE" \
        "CELERIAC_S3_EVENTS_QUEUE=$S3_EVENTS_QUEUE" \
        "CELERIAC_S3_EVENTS_ROUTING_KEY=$S3_EVENTS_ROUTING_KEY" \
        "CELERIAC_STACK_DIR=$STATE"; do
        printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
}

# --- stopping (shared by down and ctl) -------------------------------------------------------
stack_stop_s3() {
    if pid_alive s3; then
        log "s3: stopping pid $(pid_read s3)"
    fi
    stop_pid s3 10
}

stack_stop_postgres() {
    local p
    if p=$(pid_read postgres) && kill -0 "$p" 2>/dev/null; then
        log "postgres: stopping pid $p"
        # pg_ctl only acts on the postmaster of this data dir.
        run_as "$PG_OWNER" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop \
            >/dev/null 2>&1 </dev/null 9>&- || true
    fi
    stop_pid postgres 10
}

stack_stop_rabbitmq() {
    local p
    if p=$(pid_read rabbitmq) && kill -0 "$p" 2>/dev/null; then
        log "rabbitmq: stopping node $RMQ_NODE (pid $p)"
        # `stop PIDFILE` returns once the VM has exited.
        rmqctl stop "$RMQ_DIR/rabbitmq.pid" --timeout 60 >/dev/null 2>&1 || true
    fi
    stop_pid rabbitmq 30
    rm -f "$RMQ_DIR/rabbitmq.pid"
    # Our private epmd (only if it is still the epmd on our port).
    if p=$(pid_read epmd) && kill -0 "$p" 2>/dev/null; then
        if [ "$(ps -o comm= -p "$p" 2>/dev/null)" = epmd ] &&
            [ "$(port_listener_pid "$EPMD_PORT")" = "$p" ]; then
            log "rabbitmq: stopping epmd pid $p (port $EPMD_PORT)"
            stop_pid epmd 5
        fi
    fi
    rm -f "$PIDS/epmd.pid"
}
