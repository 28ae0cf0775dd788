#!/usr/bin/env bash
# Run a CeleryExecutor Airflow stack on 127.0.0.1 with all its state under .stack/ in the repository:
# a private PostgreSQL cluster, redis, the api-server, scheduler, dag-processor, triggerer and two
# Celery workers. Every server listens on 127.0.0.1 only, and `down` stops each one by its pid.
#
# Usage: scripts/stack.sh COMMAND
#   venv               create .venv-distributed from constraints/distributed.txt (up does this too)
#   up [--fresh]       start everything and wait until each part is healthy; --fresh deletes .stack first
#   down               stop everything, then check that no process or listener of the stack is left
#   status             print each part's pid, state and health, and the stack's memory use
#   start|stop NAME    start or stop (SIGTERM, then SIGKILL) one Airflow process or redis
#   kill NAME          send SIGKILL to one process and all its descendants, as a lost host would
#   wait               wait until every part is healthy, as `up` does after starting them
#   airflow ARGS...    run the airflow CLI with the stack's settings, e.g. `airflow pools list`
#   memory             print the RSS and PSS sums of the stack's processes
#   env                print the path of the env file that every process of the stack sources
#
# NAME is one of: redis api-server scheduler dag-processor triggerer worker1 worker2.
#
# Settings read from the caller's environment:
#   MIRCATE_STACK_DAGS_FOLDER    DAG folder of the stack (default: <repo>/example_dags)
#   MIRCATE_STACK_READY_TIMEOUT  seconds `up` waits for the stack to become healthy (default 180)
#   MIRCATE_STACK_STOP_TIMEOUT   seconds `stop` and `down` wait after SIGTERM before SIGKILL (default 30)
#   AIRFLOW_CONN_*, AIRFLOW_VAR_* are copied into the env file, so connections reach every process.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK="$REPO/.stack"
VENV="$REPO/.venv-distributed"
ENV_FILE="$STACK/env"
PIDS="$STACK/pids"
LOGS="$STACK/logs"
PG_DATA="$STACK/pg"
PG_SOCKET_DIR="$STACK/pgsock"
PG_BIN="${MIRCATE_STACK_PG_BIN:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}"
READY_TIMEOUT="${MIRCATE_STACK_READY_TIMEOUT:-180}"
STOP_TIMEOUT="${MIRCATE_STACK_STOP_TIMEOUT:-30}"
AIRFLOW_PARTS=(api-server scheduler dag-processor triggerer worker1 worker2)
CELERY_APP="airflow.providers.celery.executors.celery_executor.app"

log() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

# Run a command as the postgres user when root, because initdb and postgres reject root.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ensure_venv() {
    if [[ -x "$VENV/bin/airflow" && -x "$VENV/bin/celery" ]]; then
        return
    fi
    # The uv of the project's own .venv (made by make) comes first, then one on PATH, then pip's.
    local uv="$REPO/.venv/bin/uv"
    if [[ ! -x "$uv" ]]; then
        uv=$(command -v uv || true)
    fi
    if [[ -z "$uv" ]]; then
        log "uv not found; installing it with pip"
        python3 -m pip install --quiet uv
        uv=$(command -v uv)
    fi
    log "creating $VENV from constraints/distributed.txt"
    "$uv" venv --quiet -p 3.11 "$VENV"
    VIRTUAL_ENV="$VENV" "$uv" pip install --quiet -c "$REPO/constraints/distributed.txt" \
        -r "$REPO/requirements/distributed.in" -e "$REPO"
}

ensure_redis() {
    if command -v redis-server >/dev/null 2>&1; then
        return
    fi
    [[ $EUID -eq 0 ]] || die "redis-server is missing; install it with: apt-get install -y redis-server"
    log "installing redis-server with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

# Print N free TCP ports on 127.0.0.1, holding all sockets open until every port is chosen so that
# the N ports differ.
free_ports() {
    "$VENV/bin/python" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

random_secret() { "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))'; }

# Print one variable of the env file.
env_value() {
    # shellcheck source=/dev/null
    (set +u; . "$ENV_FILE"; printf '%s' "${!1}")
}

pid_of() { [[ -f "$PIDS/$1.pid" ]] && cat "$PIDS/$1.pid"; }

is_alive() {
    local pid
    pid="$(pid_of "$1")" || return 1
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

write_env_file() {
    local pg_port="$1" redis_port="$2" api_port="$3" db_password="$4"
    local dags_folder="${MIRCATE_STACK_DAGS_FOLDER:-$REPO/example_dags}"
    [[ -d "$dags_folder" ]] || die "DAG folder $dags_folder not found; set MIRCATE_STACK_DAGS_FOLDER"
    dags_folder="$(cd "$dags_folder" && pwd)"
    local db="airflow:$db_password@127.0.0.1:$pg_port/airflow"
    local fernet_key
    fernet_key="$("$VENV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"

    # A task instance that stops heartbeating for 20 s is failed and retried. A task that a killed worker
    # had received but not started stays queued until task_queued_timeout (60 s here, 600 s by default),
    # because redis hands an unacknowledged message to another worker only after the visibility timeout.
    {
        echo "# Written by scripts/stack.sh up; every process of the stack sources this file."
        printf 'export %s=%q\n' \
            MIRCATE_STACK_DIR "$STACK" \
            MIRCATE_STACK_PG_PORT "$pg_port" \
            MIRCATE_STACK_REDIS_PORT "$redis_port" \
            MIRCATE_STACK_API_PORT "$api_port" \
            MIRCATE_STACK_API_URL "http://127.0.0.1:$api_port" \
            AIRFLOW_HOME "$STACK/airflow" \
            AIRFLOW__CORE__EXECUTOR CeleryExecutor \
            AIRFLOW__CORE__LOAD_EXAMPLES False \
            AIRFLOW__CORE__DAGS_FOLDER "$dags_folder" \
            AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION False \
            AIRFLOW__CORE__FERNET_KEY "$fernet_key" \
            AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS True \
            AIRFLOW__CORE__EXECUTION_API_SERVER_URL "http://127.0.0.1:$api_port/execution/" \
            AIRFLOW__API__BASE_URL "http://127.0.0.1:$api_port/" \
            AIRFLOW__API__SECRET_KEY "$(random_secret)" \
            AIRFLOW__API_AUTH__JWT_SECRET "$(random_secret)" \
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN "postgresql+psycopg2://$db" \
            AIRFLOW__CELERY__BROKER_URL "redis://127.0.0.1:$redis_port/0" \
            AIRFLOW__CELERY__RESULT_BACKEND "db+postgresql+psycopg2://$db" \
            AIRFLOW__CELERY__WORKER_CONCURRENCY 2 \
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT 3600 \
            AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL 5 \
            AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL 10 \
            AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES 1 \
            AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK False \
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT 20 \
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL 5 \
            AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC 3 \
            AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT 60 \
            AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL 10 \
            AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL 3 \
            AWS_EC2_METADATA_DISABLED true \
            PYTHONUNBUFFERED 1
        # Connections and variables of the caller, such as the emulator's AIRFLOW_CONN_MIRCATE_DEFAULT.
        local name
        while IFS= read -r name; do
            printf 'export %s=%q\n' "$name" "${!name}"
        done < <(compgen -e | grep -E '^AIRFLOW_(CONN|VAR)_' || true)
    } >"$ENV_FILE"
    chmod 600 "$ENV_FILE"
}

# Run a command in an environment built from the env file, HOME, LANG and PATH alone, so that the
# caller's variables (a pytest session's AIRFLOW_HOME or unit-test mode) do not reach the stack.
run_in_stack_env() {
    env -i HOME="$HOME" LANG=C.UTF-8 PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" \
        bash -c '. "$0"; exec "$@"' "$ENV_FILE" "$@"
}

# Start a long-running process in its own session, so that its pid is also the process group that
# `stop` and `kill` signal, and record the pid.
spawn() {
    local name="$1"
    shift
    if is_alive "$name"; then
        die "$name is already running with pid $(pid_of "$name")"
    fi
    env -i HOME="$HOME" LANG=C.UTF-8 PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" \
        setsid bash -c '. "$0"; exec "$@"' "$ENV_FILE" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
    echo $! >"$PIDS/$name.pid"
    echo $! >>"$STACK/sessions"
}

# Print the command line of a part, each word quoted for eval.
command_for() {
    local api_port
    api_port="$(env_value MIRCATE_STACK_API_PORT)"
    case "$1" in
        redis)
            printf '%q ' redis-server --bind 127.0.0.1 --port "$(env_value MIRCATE_STACK_REDIS_PORT)" \
                --save "" --appendonly no --dir "$STACK/redis" ;;
        api-server) printf '%q ' airflow api-server --host 127.0.0.1 --port "$api_port" --workers 1 ;;
        scheduler) printf '%q ' airflow scheduler --skip-serve-logs ;;
        dag-processor) printf '%q ' airflow dag-processor ;;
        triggerer) printf '%q ' airflow triggerer --skip-serve-logs ;;
        worker1 | worker2)
            printf '%q ' airflow celery worker --skip-serve-logs --concurrency 2 --celery-hostname "$1@%h" ;;
        *) die "unknown part '$1'; expected one of: redis ${AIRFLOW_PARTS[*]}" ;;
    esac
}

start_part() {
    local -a cmd
    eval "cmd=($(command_for "$1"))"
    spawn "$1" "${cmd[@]}"
    log "started $1 (pid $(pid_of "$1"), log $LOGS/$1.log)"
}

# Print a process and all its descendants. Airflow's task runner starts each task process in a
# session of its own, so signalling a worker's process group alone would leave running tasks behind.
process_tree() {
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { parent[$1] = $2; pids[NR] = $1 }
        END {
            keep[root] = 1; print root
            do {
                added = 0
                for (i in pids) {
                    pid = pids[i]
                    if (!(pid in keep) && (parent[pid] in keep)) { keep[pid] = 1; print pid; added = 1 }
                }
            } while (added)
        }'
}

alive_of() {
    local pid
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null && echo "$pid"
    done
    return 0
}

# Send SIGTERM to a part's process group, wait up to STOP_TIMEOUT seconds for it and every
# descendant, then send SIGKILL to whatever is left.
stop_part() {
    local name="$1" pid deadline
    local -a tree
    pid="$(pid_of "$name")" || return 0
    if kill -0 "$pid" 2>/dev/null; then
        mapfile -t tree < <(process_tree "$pid")
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_TIMEOUT))
        while [[ -n "$(alive_of "${tree[@]}")" ]] && ((SECONDS < deadline)); do
            sleep 0.5
        done
        if [[ -n "$(alive_of "${tree[@]}")" ]]; then
            log "$name (pid $pid) still running ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || true
            # shellcheck disable=SC2046
            kill -KILL $(alive_of "${tree[@]}") 2>/dev/null || true
            sleep 0.5
        fi
        log "stopped $name (pid $pid)"
    fi
    rm -f "$PIDS/$name.pid"
}

# Send SIGKILL to a part and every descendant at once, as the loss of its host would.
kill_part() {
    local pid
    local -a tree
    pid="$(pid_of "$1")" || die "$1 has no pid file in $PIDS"
    mapfile -t tree < <(process_tree "$pid")
    kill -STOP "${tree[@]}" 2>/dev/null || true
    kill -KILL "${tree[@]}" 2>/dev/null || true
    log "sent SIGKILL to $1 and its ${#tree[@]} processes (${tree[*]})"
}

setup_postgres() {
    local pg_port="$1" db_password="$2"
    mkdir -p "$PG_SOCKET_DIR"
    touch "$LOGS/postgres.log"
    if [[ $EUID -eq 0 ]]; then
        chown postgres "$PG_SOCKET_DIR" "$LOGS/postgres.log"
    fi

    if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
        local pwfile="$STACK/pg-superuser-password"
        random_secret >"$pwfile"
        mkdir -p "$PG_DATA"
        if [[ $EUID -eq 0 ]]; then
            chown postgres "$PG_DATA" "$pwfile"
        fi
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
            --auth-local=peer --auth-host=scram-sha-256 -E UTF8 >>"$LOGS/postgres.log" 2>&1 \
            || die "initdb failed; see $LOGS/postgres.log"
        rm -f "$pwfile"
    fi

    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOGS/postgres.log" -w -t 60 \
        -o "-p $pg_port -k $PG_SOCKET_DIR -c listen_addresses=127.0.0.1" start >/dev/null \
        || die "PostgreSQL did not start; see $LOGS/postgres.log"
    head -n 1 "$PG_DATA/postmaster.pid" >"$PIDS/postgres.pid"
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port" \
        || die "PostgreSQL does not accept connections on 127.0.0.1:$pg_port; see $LOGS/postgres.log"

    # The role's password changes with every `up`, because the env file is rewritten each time.
    as_pg "$PG_BIN/psql" -q -h "$PG_SOCKET_DIR" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -v pw="$db_password" >>"$LOGS/postgres.log" 2>&1 <<'EOF' || die "creating the airflow role failed; see $LOGS/postgres.log"
SELECT format('CREATE ROLE airflow LOGIN PASSWORD %L', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'airflow') \gexec
SELECT format('ALTER ROLE airflow PASSWORD %L', :'pw') \gexec
SELECT 'CREATE DATABASE airflow OWNER airflow'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'airflow') \gexec
EOF
}

# Print the name of the first part that is not healthy yet, or nothing when all are.
first_unhealthy() {
    local name health
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(env_value MIRCATE_STACK_PG_PORT)" || { echo postgres; return; }
    [[ "$(redis-cli -h 127.0.0.1 -p "$(env_value MIRCATE_STACK_REDIS_PORT)" ping 2>/dev/null)" == PONG ]] \
        || { echo redis; return; }

    health="$(curl -fsS --max-time 5 "$(env_value MIRCATE_STACK_API_URL)/api/v2/monitor/health" 2>/dev/null)" \
        || { echo api-server; return; }
    for name in scheduler triggerer dag_processor; do
        "$VENV/bin/python" -c 'import json, sys; h = json.loads(sys.argv[1]); sys.exit(h[sys.argv[2]]["status"] != "healthy")' \
            "$health" "$name" 2>/dev/null || { echo "${name/_/-}"; return; }
    done

    local pong
    pong="$(run_in_stack_env celery --app "$CELERY_APP" inspect ping --timeout 5 \
        --destination "worker1@$(hostname),worker2@$(hostname)" 2>/dev/null || true)"
    for name in worker1 worker2; do
        grep -q "$name@" <<<"$pong" || { echo "$name"; return; }
    done
}

wait_healthy() {
    local started=$SECONDS deadline=$((SECONDS + READY_TIMEOUT)) failing name
    while true; do
        for name in redis "${AIRFLOW_PARTS[@]}"; do
            if ! is_alive "$name"; then
                tail -n 20 "$LOGS/$name.log" >&2 || true
                die "$name exited during start-up; see $LOGS/$name.log"
            fi
        done
        failing="$(first_unhealthy)"
        [[ -z "$failing" ]] && break
        if ((SECONDS >= deadline)); then
            tail -n 20 "$LOGS/$failing.log" >&2 || true
            die "$failing not healthy after ${READY_TIMEOUT}s; see $LOGS/$failing.log"
        fi
        sleep 1
    done
    log "every part is healthy $((SECONDS - started))s after the Airflow processes started"
}

cmd_up() {
    local fresh=0
    [[ "${1:-}" == --fresh ]] && fresh=1
    local t0=$SECONDS
    if [[ -f "$ENV_FILE" ]] && { is_alive scheduler || is_alive redis || [[ -f "$PG_DATA/postmaster.pid" ]]; }; then
        die "the stack is already running; run scripts/stack.sh down first"
    fi
    ensure_venv
    ensure_redis
    [[ -x "$PG_BIN/initdb" ]] || die "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin); set MIRCATE_STACK_PG_BIN"
    if ((fresh)); then
        rm -rf "$STACK"
    fi
    mkdir -p "$PIDS" "$LOGS" "$STACK/airflow" "$STACK/redis"
    chmod 755 "$STACK"

    local pg_port redis_port api_port db_password
    read -r pg_port redis_port api_port <<<"$(free_ports 3)"
    db_password="$(random_secret)"
    write_env_file "$pg_port" "$redis_port" "$api_port" "$db_password"

    setup_postgres "$pg_port" "$db_password"
    log "PostgreSQL on 127.0.0.1:$pg_port"
    start_part redis

    run_in_stack_env airflow db migrate >>"$LOGS/migrate.log" 2>&1 \
        || die "airflow db migrate failed; see $LOGS/migrate.log"
    run_in_stack_env airflow pools set mircate_api 2 "Mircate API calls across all workers" \
        --include-deferred >>"$LOGS/migrate.log" 2>&1 \
        || die "creating the mircate_api pool failed; see $LOGS/migrate.log"
    log "database migrated ($((SECONDS - t0))s)"

    local name
    for name in "${AIRFLOW_PARTS[@]}"; do
        start_part "$name"
    done
    wait_healthy
    log "stack ready $((SECONDS - t0))s after up; API at $(env_value MIRCATE_STACK_API_URL), env file $ENV_FILE"
}

# Print "pid command" for each process of the stack.
leftover_processes() { stack_processes list; }

cmd_down() {
    local name port leftover
    for name in worker2 worker1 triggerer dag-processor scheduler api-server redis; do
        stop_part "$name"
    done
    if [[ -f "$PG_DATA/postmaster.pid" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null \
            || log "pg_ctl stop failed; see $LOGS/postgres.log"
        log "stopped PostgreSQL"
    fi
    rm -f "$PIDS/postgres.pid"

    leftover="$(leftover_processes)"
    [[ -z "$leftover" ]] || die "processes of the stack still running:
$leftover"
    if [[ -f "$ENV_FILE" ]]; then
        for port in "$(env_value MIRCATE_STACK_PG_PORT)" "$(env_value MIRCATE_STACK_REDIS_PORT)" \
            "$(env_value MIRCATE_STACK_API_PORT)"; do
            if ss -Hltn "sport = :$port" | grep -q .; then
                die "port $port still has a listener: $(ss -Hltnp "sport = :$port")"
            fi
        done
    fi
    rm -f "$STACK/sessions"
    log "stack stopped; no process or listener of it is left"
}

# Print the resident and proportional set size of every process in the stack, in MiB.
memory_report() { stack_processes memory; }

# A process belongs to the stack when its session is one that `spawn` created (the sessions file
# keeps them after their pid files are gone), when it is PostgreSQL's postmaster or a child of it,
# when its environment or command line names the stack folder, or when it descends from one that
# does. The environment alone is not enough, because setproctitle (celery, uvicorn) overwrites the
# memory that /proc/PID/environ reads.
stack_processes() {
    python3 - "$STACK" "$1" "$(cat "$STACK/sessions" 2>/dev/null || true)" <<'EOF'
import os
import sys

stack, mode, sessions = sys.argv[1], sys.argv[2], set(sys.argv[3].split())
try:
    with open(f"{stack}/pg/postmaster.pid") as f:
        postmaster = f.readline().strip()
except OSError:
    postmaster = None

parents, commands, members = {}, {}, set()
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) in (os.getpid(), os.getppid()):
        continue
    try:
        with open(f"/proc/{pid}/stat") as f:
            _state, ppid, _pgrp, session = f.read().rsplit(")", 1)[1].split()[:4]
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read().split(b"\0")
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        continue
    parents[pid], commands[pid] = ppid, cmdline
    if (
        session in sessions
        or postmaster in (pid, ppid)
        or f"MIRCATE_STACK_DIR={stack}".encode() in env
        or f"{stack}/" in cmdline
    ):
        members.add(pid)

# Task processes run in sessions of their own, so descendants of members are members too.
changed = True
while changed:
    children = {pid for pid, ppid in parents.items() if ppid in members} - members
    members |= children
    changed = bool(children)

rss = pss = count = 0
for pid in sorted(members, key=int):
    if mode == "list":
        print(pid, commands[pid])
        continue
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            fields = dict(line.split()[:2] for line in f if line.split()[0] in ("Rss:", "Pss:"))
    except OSError:
        continue
    rss += int(fields["Rss:"])
    pss += int(fields["Pss:"])
    count += 1
if mode == "memory":
    print(f"{count} processes, RSS sum {rss / 1024:.0f} MiB (shared pages counted in each process), "
          f"PSS sum {pss / 1024:.0f} MiB (shared pages divided among their processes)")
EOF
}

cmd_status() {
    [[ -f "$ENV_FILE" ]] || die "no stack in $STACK; run scripts/stack.sh up"
    local name state
    for name in postgres redis "${AIRFLOW_PARTS[@]}"; do
        state=stopped
        if [[ "$name" == postgres ]]; then
            [[ -f "$PIDS/postgres.pid" ]] && kill -0 "$(pid_of postgres)" 2>/dev/null && state=running
        elif is_alive "$name"; then
            state=running
        fi
        printf '%-14s %-8s pid %s\n' "$name" "$state" "$(pid_of "$name" 2>/dev/null || echo -)"
    done
    local failing
    failing="$(first_unhealthy 2>/dev/null || true)"
    if [[ -z "$failing" ]]; then
        echo "health: every part healthy"
    else
        echo "health: $failing not healthy (log $LOGS/$failing.log)"
    fi
    echo "API $(env_value MIRCATE_STACK_API_URL), env file $ENV_FILE"
    echo "memory: $(memory_report)"
}

main() {
    local command="${1:-}"
    shift || true
    case "$command" in
        venv) ensure_venv ;;
        up) cmd_up "$@" ;;
        down) cmd_down ;;
        status) cmd_status ;;
        start) [[ $# -eq 1 ]] || die "usage: stack.sh start NAME"; start_part "$1" ;;
        stop) [[ $# -eq 1 ]] || die "usage: stack.sh stop NAME"; stop_part "$1" ;;
        kill) [[ $# -eq 1 ]] || die "usage: stack.sh kill NAME"; kill_part "$1" ;;
        wait) wait_healthy ;;
        airflow) [[ -f "$ENV_FILE" ]] || die "no stack in $STACK; run scripts/stack.sh up"; run_in_stack_env airflow "$@" ;;
        env) echo "$ENV_FILE" ;;
        memory) memory_report ;;
        *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
}

main "$@"
