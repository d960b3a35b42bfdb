#!/usr/bin/env bash
# Bounce one broker, for fault-tolerance tests. Returns when it is back up.
#
#   bash scripts/brokers/restart.sh redis|rabbitmq|kafka|nats [down-seconds]
#
#   redis     SHUTDOWN NOSAVE, then start redis-server again with the same
#             port/dir/pidfile, wait for PONG (~0.1 s). All data is lost.
#   rabbitmq  rabbitmqctl stop_app && start_app (the Erlang node stays up;
#             connections are dropped; durable queues survive), then wait until
#             127.0.0.1:5672 answers the AMQP handshake (a few seconds).
#   kafka     "down N" for every mock broker through .brokers/kafka.ctl, then
#             "up N": clients' connections are dropped, data and group offsets
#             are kept (the mock keeps running).
#   nats      SIGTERM to the nats-server listening on 127.0.0.1:$NATS_PORT (default
#             4222), then the same command line again in the same directory;
#             waits for an INFO announcing JetStream. File-stored streams and
#             durable consumers survive. Tests set NATS_PORT to restart a private
#             server of their own instead of the shared one.
#
# down-seconds (default 0) keeps the broker down that long before restarting it.
# Works on brokers up.sh started and on pre-started ones alike (Redis and
# RabbitMQ on 6379/5672); it does not change which ones down.sh will stop.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

broker="${1:-}"
down_for="${2:-0}"
case "$down_for" in '' | *[!0-9.]*) log "restart.sh: down-seconds must be a number"; exit 2 ;; esac

restart_redis() {
  redis_ready || { log "restart.sh: redis is not running on 127.0.0.1:$REDIS_PORT"; return 1; }
  local cli=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT") dir pidfile logfile
  dir="$("${cli[@]}" config get dir | sed -n 2p)"
  pidfile="$("${cli[@]}" config get pidfile | sed -n 2p)"
  logfile="$("${cli[@]}" config get logfile | sed -n 2p)"
  "${cli[@]}" shutdown nosave >/dev/null 2>&1
  wait_until 10 bash -c "! timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/$REDIS_PORT' 2>/dev/null" ||
    { log "restart.sh: redis did not shut down"; return 1; }
  sleep "$down_for"
  local args=(--daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
    --dir "${dir:-$STATE_DIR/redis}" --pidfile "${pidfile:-$STATE_DIR/redis/redis.pid}")
  [ -n "$logfile" ] && args+=(--logfile "$logfile")
  redis-server "${args[@]}" >/dev/null 2>&1
  wait_until 10 redis_ready || { log "restart.sh: redis did not come back within 10 s"; return 1; }
  # Keep down.sh's record pointing at the new process if up.sh owns it.
  if [ -f "$STATE_DIR/redis.pid" ] && [ -n "$pidfile" ]; then
    wait_until 5 test -s "$pidfile" && cp "$pidfile" "$STATE_DIR/redis.pid"
  fi
  echo "redis restarted at 127.0.0.1:$REDIS_PORT"
}

restart_rabbitmq() {
  timeout 60 rabbitmqctl -q stop_app >/dev/null 2>&1 || { log "restart.sh: rabbitmqctl stop_app failed (is RabbitMQ running?)"; return 1; }
  sleep "$down_for"
  timeout 60 rabbitmqctl -q start_app >/dev/null 2>&1 || { log "restart.sh: rabbitmqctl start_app failed"; return 1; }
  wait_until 60 amqp_ready || { log "restart.sh: AMQP on 127.0.0.1:$RABBITMQ_PORT did not come back within 60 s"; return 1; }
  echo "rabbitmq restarted at 127.0.0.1:$RABBITMQ_PORT"
}

restart_kafka() {
  local bs n i
  bs="$(kafka_bootstrap)" || { log "restart.sh: no .brokers/kafka.bootstrap (run scripts/brokers/up.sh kafka)"; return 1; }
  n="$(tr ',' '\n' <<<"$bs" | grep -c .)"
  for ((i = 1; i <= n; i++)); do kafka_ctl down "$i" >/dev/null || return 1; done
  sleep "$down_for"
  for ((i = 1; i <= n; i++)); do kafka_ctl up "$i" >/dev/null || return 1; done
  wait_until 10 kafka_ready || { log "restart.sh: kafka mock not accepting connections"; return 1; }
  echo "kafka restarted at $bs ($n brokers down then up)"
}

# Exited: gone, or a zombie (a server whose parent does not reap it still answers kill -0).
exited() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }

restart_nats() {
  local pid cwd new
  local -a args
  pid="$(nats_pid)" || { log "restart.sh: no nats-server listening on 127.0.0.1:$NATS_PORT"; return 1; }
  mapfile -d '' -t args <"/proc/$pid/cmdline"
  cwd="$(readlink "/proc/$pid/cwd")"
  kill -TERM "$pid"
  wait_until 20 exited "$pid" || { kill -KILL "$pid"; wait_until 5 exited "$pid"; }
  sleep "$down_for"
  mkdir -p "$STATE_DIR"
  (cd "${cwd:-/}" && exec setsid "${args[@]}" >>"$STATE_DIR/nats.log" 2>&1 </dev/null) &
  new=$!
  wait_until 30 nats_ready || { log "restart.sh: nats-server did not come back on 127.0.0.1:$NATS_PORT within 30 s"; return 1; }
  # Keep down.sh's record pointing at the new process if up.sh owns it.
  [ "$(read_pid "$STATE_DIR/nats.pid")" = "$pid" ] && echo "$new" >"$STATE_DIR/nats.pid"
  echo "nats restarted at 127.0.0.1:$NATS_PORT"
}

case "$broker" in
  redis | rabbitmq | kafka | nats) "restart_$broker" ;;
  *) log "usage: $0 redis|rabbitmq|kafka|nats [down-seconds]"; exit 2 ;;
esac
