# Shared helpers for scripts/brokers/*.sh (sourced, not executed).
# shellcheck shell=bash disable=SC2034

BROKERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$BROKERS_DIR/../.." && pwd)"
STATE_DIR="$REPO_ROOT/.brokers"
ALL_BROKERS=(redis rabbitmq postgres pubsub kinesis kafka nats)

REDIS_PORT=6379
RABBITMQ_PORT=5672
RABBITMQ_MANAGEMENT_PORT=15672
# The management plugin's listener, as an Erlang term: on loopback, like AMQP.
RABBITMQ_MANAGEMENT_TCP_CONFIG="[{ip,\"127.0.0.1\"},{port,$RABBITMQ_MANAGEMENT_PORT}]"
POSTGRES_PORT=5432
PUBSUB_PORT=8085
KINESIS_PORT=4568
KINESIS_TLS_PORT=4567
NATS_PORT="${NATS_PORT:-4222}"
PUBSUB_EMULATOR_DIR="${PUBSUB_EMULATOR_DIR:-/usr/lib/google-cloud-sdk/platform/pubsub-emulator}"
KINESIS_LOCAL_DIR="${KINESIS_LOCAL_DIR:-$REPO_ROOT/node_modules/kinesis-local}"
KAFKA_MOCK_SRC="$BROKERS_DIR/kafka-mock.c"
KAFKA_MOCK_BIN="$BROKERS_DIR/kafka-mock"
KAFKA_CTL="$STATE_DIR/kafka.ctl"
KAFKA_ACK="$STATE_DIR/kafka.ack"
KAFKA_BOOTSTRAP_FILE="$STATE_DIR/kafka.bootstrap"

log() { printf '%s\n' "$*" >&2; }

# port_open PORT [HOST]: true if a TCP connect succeeds within 1 s.
port_open() {
  timeout 1 bash -c "exec 3<>/dev/tcp/${2:-127.0.0.1}/$1" 2>/dev/null
}

# wait_until SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.2
  done
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

read_pid() { [ -f "$1" ] && tr -dc '0-9' <"$1"; }

# --- readiness probes -------------------------------------------------------

redis_ready() { [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

# AMQP 0-9-1 handshake: send the protocol header; a live broker answers with a
# method frame (type 1, Connection.Start). A closed or booting port does not.
amqp_ready() {
  local first
  first="$(timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$RABBITMQ_PORT"' || exit 1
    printf "AMQP\x00\x00\x09\x01" >&3
    head -c 1 <&3 | od -An -tx1' 2>/dev/null | tr -d ' \n')"
  [ "$first" = 01 ]
}

postgres_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p "$POSTGRES_PORT" -t 2
  else
    port_open "$POSTGRES_PORT"
  fi
}

pubsub_ready() { curl -sf -m 2 "http://127.0.0.1:$PUBSUB_PORT/" >/dev/null 2>&1; }

# kinesis-local answers GET / with 404: any HTTP status means it is up.
kinesis_ready() {
  local code
  code="$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$KINESIS_PORT/" 2>/dev/null)"
  [ -n "$code" ] && [ "$code" != 000 ]
}

kafka_bootstrap() { [ -s "$KAFKA_BOOTSTRAP_FILE" ] && head -n1 "$KAFKA_BOOTSTRAP_FILE"; }

# Kafka (mock) is ready when the launcher we started is alive and its first
# bootstrap port accepts connections.
kafka_ready() {
  local pid bs hostport
  pid="$(read_pid "$STATE_DIR/kafka.pid")"
  pid_alive "$pid" || return 1
  bs="$(kafka_bootstrap)" || return 1
  hostport="${bs%%,*}"
  port_open "${hostport##*:}" "${hostport%:*}"
}

rabbitmq_ready() { amqp_ready; }

# The management plugin's HTTP API answers an authenticated request (guest/guest
# is allowed from localhost): what listGroups and the tests' RABBITMQ_MANAGEMENT_URL need.
rabbitmq_management_ready() {
  curl -sf -m 3 -o /dev/null -u guest:guest "http://127.0.0.1:$RABBITMQ_MANAGEMENT_PORT/api/overview" 2>/dev/null
}

# nats_ready [PORT]: the server's first line is its INFO, which must announce JetStream.
nats_ready() {
  local info
  info="$(timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"${1:-$NATS_PORT}"' && head -n1 <&3' 2>/dev/null)"
  [[ "$info" == INFO* && "$info" == *'"jetstream":true'* ]]
}

# nats_pid [PORT]: pid of the nats-server listening on 127.0.0.1:PORT.
nats_pid() {
  local line
  line="$(ss -Hltnp "sport = :${1:-$NATS_PORT}" 2>/dev/null | grep -o '"nats-server",pid=[0-9]*' | head -n1)"
  [ -n "$line" ] && echo "${line##*=}"
}

broker_ready() { "${1}_ready"; }

broker_addr() {
  case "$1" in
    redis) echo "127.0.0.1:$REDIS_PORT" ;;
    rabbitmq) echo "127.0.0.1:$RABBITMQ_PORT" ;;
    postgres) echo "127.0.0.1:$POSTGRES_PORT" ;;
    pubsub) echo "127.0.0.1:$PUBSUB_PORT" ;;
    kinesis) echo "127.0.0.1:$KINESIS_PORT" ;;
    kafka) kafka_bootstrap ;;
    nats) echo "127.0.0.1:$NATS_PORT" ;;
  esac
}

is_known_broker() {
  local b
  for b in "${ALL_BROKERS[@]}"; do [ "$b" = "$1" ] && return 0; done
  return 1
}

# kafka_ctl COMMAND...: send one command to the kafka-mock control FIFO and
# wait (up to 5 s) for its acknowledgement line; prints it; fails on "err".
kafka_ctl() {
  local cmd="$*" before ack deadline
  [ -p "$KAFKA_CTL" ] || { log "kafka: control FIFO $KAFKA_CTL missing (is kafka started by up.sh?)"; return 1; }
  pid_alive "$(read_pid "$STATE_DIR/kafka.pid")" || { log "kafka: kafka-mock is not running"; return 1; }
  before=0
  [ -f "$KAFKA_ACK" ] && before="$(wc -l <"$KAFKA_ACK")"
  # timeout guards against a FIFO with no reader (would block forever).
  timeout 5 bash -c 'printf "%s\n" "$1" >"$2"' _ "$cmd" "$KAFKA_CTL" || { log "kafka: cannot write to $KAFKA_CTL"; return 1; }
  deadline=$((SECONDS + 5))
  while :; do
    if [ -f "$KAFKA_ACK" ] && [ "$(wc -l <"$KAFKA_ACK")" -gt "$before" ]; then
      ack="$(sed -n "$((before + 1))p" "$KAFKA_ACK")"
      echo "$ack"
      [ "${ack%% *}" = ok ]
      return
    fi
    ((SECONDS >= deadline)) && { log "kafka: no acknowledgement for '$cmd'"; return 1; }
    sleep 0.05
  done
}
