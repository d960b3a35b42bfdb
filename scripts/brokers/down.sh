#!/usr/bin/env bash
# Stop the brokers that scripts/brokers/up.sh started, and only those.
#
#   bash scripts/brokers/down.sh [broker...]     (default: all)
#
# up.sh records what it started in .brokers/ (pid files, and for PostgreSQL how
# it was started). Brokers that were already running when up.sh ran (e.g. the
# machine's pre-started Redis, RabbitMQ and PostgreSQL) have no such record and
# are left alone.
set -uo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ -d "$STATE_DIR" ] || { echo "down.sh: nothing to stop (no .brokers/)"; exit 0; }

requested=("$@")
[ ${#requested[@]} -eq 0 ] && requested=("${ALL_BROKERS[@]}")
for b in "${requested[@]}"; do
  is_known_broker "$b" || { log "down.sh: unknown broker '$b' (known: ${ALL_BROKERS[*]})"; exit 2; }
done

exec 9>"$STATE_DIR/.lock"
flock -w 300 9 || { log "down.sh: another up.sh/down.sh holds $STATE_DIR/.lock"; exit 1; }

# stop_pid NAME PID [GRACE]: TERM the process group led by PID (started with
# setsid) or else the process, wait up to GRACE s, then KILL.
stop_pid() {
  local name="$1" pid="$2" grace="${3:-5}" target="$2"
  pid_alive "$pid" || return 0
  # Started with setsid: the pid leads its own process group.
  [ "$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ')" = "$pid" ] && target="-$pid"
  kill -TERM -- "$target" 2>/dev/null
  if ! wait_until "$grace" bash -c "! kill -0 $pid 2>/dev/null"; then
    log "down.sh: $name (pid $pid) ignored TERM; sending KILL"
    kill -KILL -- "$target" 2>/dev/null
    wait_until 3 bash -c "! kill -0 $pid 2>/dev/null"
  fi
}

stop_redis() {
  local pid
  pid="$(read_pid "$STATE_DIR/redis.pid")"
  [ -n "$pid" ] || return 1
  if pid_alive "$pid"; then
    timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1
    wait_until 5 bash -c "! kill -0 $pid 2>/dev/null" || stop_pid redis "$pid" 3
  fi
  rm -f "$STATE_DIR/redis.pid"
}

stop_rabbitmq() {
  [ -f "$STATE_DIR/rabbitmq.started" ] || return 1
  local pid epmd_was
  pid="$(read_pid "$STATE_DIR/rabbitmq.pid")"
  epmd_was="$(cat "$STATE_DIR/rabbitmq.epmd-was-running" 2>/dev/null || echo 1)"
  timeout 60 rabbitmqctl -q stop >/dev/null 2>&1
  [ -n "$pid" ] && { wait_until 20 bash -c "! kill -0 $pid 2>/dev/null" || stop_pid rabbitmq "$pid" 5; }
  # rabbitmqctl stop leaves epmd behind; kill it only if it was not running before.
  [ "$epmd_was" = 0 ] && epmd -kill >/dev/null 2>&1
  rm -f "$STATE_DIR/rabbitmq.started" "$STATE_DIR/rabbitmq.pid" "$STATE_DIR/rabbitmq.epmd-was-running"
}

stop_postgres() {
  [ -f "$STATE_DIR/postgres.how" ] || return 1
  local how bindir datadir
  read -r -a how <"$STATE_DIR/postgres.how"
  case "${how[0]}" in
    pg_ctlcluster)
      pg_ctlcluster --skip-systemctl-redirect "${how[1]}" "${how[2]}" stop -m fast >/dev/null 2>&1 ;;
    pg_ctl)
      bindir="${how[1]}" datadir="${how[2]}"
      if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null 2>&1
      else
        "$bindir/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null 2>&1
      fi
      case "$datadir" in /tmp/eventport-pg.*) rm -rf "$datadir" ;; esac ;;
  esac
  rm -f "$STATE_DIR/postgres.how"
}

stop_simple() { # pubsub, kinesis, kafka, nats: processes started with setsid
  local b="$1" pid
  pid="$(read_pid "$STATE_DIR/$b.pid")"
  [ -n "$pid" ] || return 1
  stop_pid "$b" "$pid" 5
  rm -f "$STATE_DIR/$b.pid"
}
stop_pubsub() { stop_simple pubsub; }
stop_kinesis() { stop_simple kinesis; }
stop_kafka() { stop_simple kafka && rm -f "$KAFKA_BOOTSTRAP_FILE" "$KAFKA_CTL" "$KAFKA_ACK"; }
stop_nats() { stop_simple nats; }

declare -A job
for b in "${requested[@]}"; do
  ( if "stop_$b"; then echo "$b stopped"; else echo "$b not started by up.sh: left alone"; fi ) 9>&- \
    >"$STATE_DIR/$b.down" 2>&1 &
  job[$b]=$!
done
for b in "${requested[@]}"; do
  wait "${job[$b]}"
  cat "$STATE_DIR/$b.down"
  rm -f "$STATE_DIR/$b.down"
done
