#!/usr/bin/env bash
# Start the local brokers the integration tests use, without Docker or systemd.
#
#   bash scripts/brokers/up.sh [redis] [rabbitmq] [postgres] [pubsub] [kinesis] [kafka] [nats]
#
# With no argument, all seven. For each broker: if it already answers on its port
# nothing is done (the machine may pre-start Redis, RabbitMQ and PostgreSQL);
# otherwise missing Debian packages are installed (apt-get, as root) and the
# broker is started in the background. Brokers start in parallel; one line
# "<broker> ready at <address>" is printed per broker. Exits non-zero naming
# the broker(s) that could not be started. Running it again is harmless.
#
# State lives in .brokers/ at the repo root: pid files of what THIS script
# started (scripts/brokers/down.sh stops exactly those), logs, and for Kafka
# the bootstrap servers (.brokers/kafka.bootstrap) and the control FIFO
# (.brokers/kafka.ctl, protocol documented in scripts/brokers/kafka-mock.c).
#
# Then: source scripts/brokers/env.sh
#
# RabbitMQ's management plugin (its HTTP API is how listGroups sees queues; the
# Debian package ships it disabled) is enabled on the node, pre-started or not,
# when it is not already, and up.sh waits until /api/overview answers: 7-16 s on
# a running node; a node up.sh starts boots with it (15-25 s in all). It stays in
# the node's enabled_plugins file, so later boots start it too.
#
# Ports: redis 6379, rabbitmq 5672 (guest/guest) + management API 15672 on
# 127.0.0.1 when up.sh enables it, postgres 5432 (trust, db
# "test"), pubsub emulator 8085, kinesis-local 4568 (HTTP) + 4567 (HTTPS),
# kafka mock: 3 brokers on random loopback ports (see .brokers/kafka.bootstrap),
# nats-server 4222 with JetStream (file storage in .brokers/nats).
set -uo pipefail

# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$STATE_DIR"

requested=("$@")
[ ${#requested[@]} -eq 0 ] && requested=("${ALL_BROKERS[@]}")
for b in "${requested[@]}"; do
  is_known_broker "$b" || { log "up.sh: unknown broker '$b' (known: ${ALL_BROKERS[*]})"; exit 2; }
done

# One up.sh at a time (a second one waits, then finds everything running).
exec 9>"$STATE_DIR/.lock"
flock -w 300 9 || { log "up.sh: another up.sh/down.sh holds $STATE_DIR/.lock"; exit 1; }

# --- 1. which brokers need starting ----------------------------------------
to_start=()
for b in "${requested[@]}"; do
  broker_ready "$b" || to_start+=("$b")
done

# --- 2. install missing packages (once, serially) ---------------------------
pkgs=()
add_pkg() {
  local p
  for p in "${pkgs[@]}"; do [ "$p" = "$1" ] && return; done
  pkgs+=("$1")
}
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
postgres_bin_dir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

for b in "${to_start[@]}"; do
  case "$b" in
    redis) command -v redis-server >/dev/null || add_pkg redis-server
           command -v redis-cli >/dev/null || add_pkg redis-tools ;;
    rabbitmq) command -v rabbitmq-server >/dev/null || add_pkg rabbitmq-server ;;
    postgres) postgres_bin_dir >/dev/null || add_pkg postgresql ;;
    kafka) have_pkg librdkafka-dev || add_pkg librdkafka-dev
           command -v gcc >/dev/null || add_pkg gcc ;;
    pubsub|kinesis) command -v curl >/dev/null || add_pkg curl ;;
    nats) command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || add_pkg nats-server
          command -v ss >/dev/null || add_pkg iproute2 ;;
  esac
done
# rabbitmq_management_ready asks the management API with curl, started here or not.
for b in "${requested[@]}"; do
  [ "$b" = rabbitmq ] && { command -v curl >/dev/null || add_pkg curl; }
done
if [ ${#pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "up.sh: missing packages (${pkgs[*]}); run as root or: sudo apt-get install -y ${pkgs[*]}"
    exit 1
  fi
  log "up.sh: installing ${pkgs[*]} (log: .brokers/apt.log)"
  if ! { DEBIAN_FRONTEND=noninteractive apt-get update &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}"; } \
       >>"$STATE_DIR/apt.log" 2>&1; then
    log "up.sh: apt-get install ${pkgs[*]} failed; see $STATE_DIR/apt.log"
    exit 1
  fi
fi

# --- 3. start functions (each runs in its own background subshell) ----------
# Each prints its result line on stdout and returns non-zero on failure.

fail() { echo "$1 FAILED: $2"; return 1; }

start_redis() {
  local dir="$STATE_DIR/redis"
  mkdir -p "$dir"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$STATE_DIR/redis.log" >>"$STATE_DIR/redis.log" 2>&1 \
    || fail redis "redis-server did not start (see .brokers/redis.log)" || return 1
  wait_until 10 redis_ready || fail redis "no PONG on 127.0.0.1:$REDIS_PORT within 10 s (see .brokers/redis.log)" || return 1
  wait_until 5 test -s "$dir/redis.pid"
  cp "$dir/redis.pid" "$STATE_DIR/redis.pid"
  echo "redis ready at 127.0.0.1:$REDIS_PORT (started)"
}

# The management plugin, enabled on the running node unless its API already
# answers. It binds 127.0.0.1 like AMQP: the plugin reads tcp_config when its
# application loads, so it is set first unless the node's config set one.
# Prints the tail of the result line; fails naming what did not work.
ensure_rabbitmq_management() {
  local started=$SECONDS api="http://127.0.0.1:$RABBITMQ_MANAGEMENT_PORT"
  if rabbitmq_management_ready; then
    echo "management API $api"
    return 0
  fi
  timeout 30 rabbitmqctl -q eval "case application:get_env(rabbitmq_management, tcp_config) of
      undefined -> application:set_env(rabbitmq_management, tcp_config, $RABBITMQ_MANAGEMENT_TCP_CONFIG);
      _ -> ok end." >>"$STATE_DIR/rabbitmq.log" 2>&1
  # Enabling an enabled plugin changes nothing; it also starts one whose listener is not up yet.
  if ! timeout 120 rabbitmq-plugins -q enable rabbitmq_management >>"$STATE_DIR/rabbitmq.log" 2>&1; then
    # The app may be restarting (scripts/brokers/restart.sh): once more when AMQP answers again.
    wait_until 60 amqp_ready
    timeout 120 rabbitmq-plugins -q enable rabbitmq_management >>"$STATE_DIR/rabbitmq.log" 2>&1 ||
      fail rabbitmq "rabbitmq-plugins enable rabbitmq_management failed (see .brokers/rabbitmq.log)" || return 1
  fi
  wait_until 60 rabbitmq_management_ready ||
    fail rabbitmq "management plugin enabled but $api/api/overview did not answer guest/guest within 60 s (see .brokers/rabbitmq.log)" || return 1
  echo "management API $api (plugin enabled in $((SECONDS - started)) s)"
}

# Pre-started RabbitMQ: AMQP answers, the management plugin may still be off.
already_rabbitmq() {
  local management
  management="$(ensure_rabbitmq_management)" || { echo "$management"; return 1; }
  echo "rabbitmq ready at 127.0.0.1:$RABBITMQ_PORT (already running), $management"
}

start_rabbitmq() {
  local management epmd_running=0
  # Before any rabbitmq CLI runs (rabbitmqctl and rabbitmq-plugins start epmd too).
  epmd -names >/dev/null 2>&1 && epmd_running=1
  # Node running with the app stopped (e.g. after rabbitmqctl stop_app): just
  # start the app; we did not start this node, so record no pid.
  if timeout 10 rabbitmqctl -q ping >/dev/null 2>&1; then
    timeout 60 rabbitmqctl -q start_app >>"$STATE_DIR/rabbitmq.log" 2>&1
    wait_until 60 amqp_ready || fail rabbitmq "node is up but AMQP on 127.0.0.1:$RABBITMQ_PORT did not answer within 60 s" || return 1
    management="$(ensure_rabbitmq_management)" || { echo "$management"; return 1; }
    echo "rabbitmq ready at 127.0.0.1:$RABBITMQ_PORT (app started on the running node), $management"
    return 0
  fi
  # The plugin starts with the node (it is written to the node's enabled_plugins
  # file, where it stays); a failure here is made up for by ensure_rabbitmq_management.
  timeout 60 rabbitmq-plugins -q enable --offline rabbitmq_management >>"$STATE_DIR/rabbitmq.log" 2>&1
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} -rabbitmq_management tcp_config $RABBITMQ_MANAGEMENT_TCP_CONFIG" \
    rabbitmq-server -detached >>"$STATE_DIR/rabbitmq.log" 2>&1 </dev/null
  # From here on the node is ours even if it fails to come up: down.sh stops it.
  echo "$epmd_running" >"$STATE_DIR/rabbitmq.epmd-was-running"
  echo started >"$STATE_DIR/rabbitmq.started"
  wait_until 60 amqp_ready ||
    fail rabbitmq "AMQP on 127.0.0.1:$RABBITMQ_PORT did not answer within 60 s (see .brokers/rabbitmq.log, /var/log/rabbitmq/)" || return 1
  timeout 30 rabbitmqctl -q await_startup >>"$STATE_DIR/rabbitmq.log" 2>&1
  local pid
  pid="$(timeout 10 rabbitmqctl -q eval 'os:getpid().' 2>/dev/null | tr -dc '0-9')"
  [ -n "$pid" ] && echo "$pid" >"$STATE_DIR/rabbitmq.pid"
  management="$(ensure_rabbitmq_management)" || { echo "$management"; return 1; }
  echo "rabbitmq ready at 127.0.0.1:$RABBITMQ_PORT (started), $management"
}

ensure_test_db() {
  local have
  have="$(psql -w -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -tAc \
    "select 1 from pg_database where datname = 'test'" 2>/dev/null)"
  [ "$have" = 1 ] && return 0
  psql -w -h 127.0.0.1 -p "$POSTGRES_PORT" -U postgres -d postgres -qc 'create database test' >/dev/null 2>&1
}

# A Debian cluster usable with trust auth over TCP: "<version> <name>", else fail.
debian_trust_cluster() {
  local conf ver name
  for conf in /etc/postgresql/*/*/postgresql.conf; do
    [ -f "$conf" ] || continue
    ver="$(basename "$(dirname "$(dirname "$conf")")")"
    name="$(basename "$(dirname "$conf")")"
    grep -Eqs "^[[:space:]]*port[[:space:]]*=[[:space:]]*$POSTGRES_PORT\b" "$conf" || continue
    grep -Eqs '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+(127\.0\.0\.1/32|0\.0\.0\.0/0|all)[[:space:]]+trust' \
      "$(dirname "$conf")/pg_hba.conf" || continue
    echo "$ver $name"
    return 0
  done
  return 1
}

start_postgres() {
  local cluster bindir datadir
  if command -v pg_ctlcluster >/dev/null 2>&1 && cluster="$(debian_trust_cluster)"; then
    # shellcheck disable=SC2086
    pg_ctlcluster --skip-systemctl-redirect $cluster start >>"$STATE_DIR/postgres.log" 2>&1 ||
      fail postgres "pg_ctlcluster $cluster start failed (see .brokers/postgres.log)" || return 1
    echo "pg_ctlcluster $cluster" >"$STATE_DIR/postgres.how"
  else
    # No usable system cluster: a throwaway one with trust auth in a temp dir.
    bindir="$(postgres_bin_dir)" || fail postgres "no PostgreSQL server binaries (apt-get install postgresql)" || return 1
    datadir="$(mktemp -d /tmp/eventport-pg.XXXXXX)"
    chown postgres: "$datadir" 2>/dev/null || true
    if [ "$(id -u)" = 0 ]; then
      runuser -u postgres -- "$bindir/initdb" -D "$datadir" -A trust -U postgres >>"$STATE_DIR/postgres.log" 2>&1 &&
      runuser -u postgres -- "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 30 \
        -o "-p $POSTGRES_PORT -c listen_addresses=127.0.0.1 -k $datadir" start >>"$STATE_DIR/postgres.log" 2>&1
    else
      "$bindir/initdb" -D "$datadir" -A trust -U postgres >>"$STATE_DIR/postgres.log" 2>&1 &&
      "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 30 \
        -o "-p $POSTGRES_PORT -c listen_addresses=127.0.0.1 -k $datadir" start >>"$STATE_DIR/postgres.log" 2>&1
    fi || fail postgres "initdb/pg_ctl in $datadir failed (see .brokers/postgres.log)" || return 1
    echo "pg_ctl $bindir $datadir" >"$STATE_DIR/postgres.how"
  fi
  wait_until 30 postgres_ready || fail postgres "not accepting connections on 127.0.0.1:$POSTGRES_PORT within 30 s" || return 1
  ensure_test_db || fail postgres "cannot create database test as role postgres (auth not trust?)" || return 1
  echo "postgres ready at 127.0.0.1:$POSTGRES_PORT (started)"
}

start_pubsub() {
  local launcher="$PUBSUB_EMULATOR_DIR/bin/cloud-pubsub-emulator"
  [ -x "$launcher" ] || fail pubsub "emulator not found at $launcher (Debian package google-cloud-cli-pubsub-emulator from Google's apt repository)" || return 1
  command -v java >/dev/null || fail pubsub "java not found (the emulator needs Java 17+: apt-get install openjdk-17-jre-headless)" || return 1
  (cd "$STATE_DIR" && exec setsid "$launcher" --host=127.0.0.1 --port="$PUBSUB_PORT" \
    >>"$STATE_DIR/pubsub.log" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$STATE_DIR/pubsub.pid"
  wait_until 60 pubsub_ready || fail pubsub "no answer on http://127.0.0.1:$PUBSUB_PORT/ within 60 s (see .brokers/pubsub.log)" || return 1
  echo "pubsub ready at 127.0.0.1:$PUBSUB_PORT (started)"
}

start_kinesis() {
  [ -f "$KINESIS_LOCAL_DIR/main.js" ] ||
    fail kinesis "$KINESIS_LOCAL_DIR/main.js not found: run 'npm ci' at the repo root (kinesis-local is a devDependency)" || return 1
  (cd "$STATE_DIR" && exec setsid env \
    KINESIS_MOCK_CERT_PATH="$KINESIS_LOCAL_DIR/server.json" \
    KINESIS_MOCK_PLAIN_PORT="$KINESIS_PORT" KINESIS_MOCK_TLS_PORT="$KINESIS_TLS_PORT" \
    CREATE_STREAM_DURATION=10ms DELETE_STREAM_DURATION=10ms UPDATE_SHARD_COUNT_DURATION=10ms \
    REGISTER_STREAM_CONSUMER_DURATION=10ms DEREGISTER_STREAM_CONSUMER_DURATION=10ms \
    LOG_LEVEL=WARN node -r "$BROKERS_DIR/kinesis-wall-clock.cjs" "$KINESIS_LOCAL_DIR/main.js" >>"$STATE_DIR/kinesis.log" 2>&1 </dev/null) &
  local pid=$!
  echo "$pid" >"$STATE_DIR/kinesis.pid"
  wait_until 60 kinesis_ready || fail kinesis "no HTTP answer on 127.0.0.1:$KINESIS_PORT within 60 s (see .brokers/kinesis.log)" || return 1
  echo "kinesis ready at 127.0.0.1:$KINESIS_PORT (started)"
}

start_kafka() {
  local old
  old="$(read_pid "$STATE_DIR/kafka.pid")"
  if pid_alive "$old"; then # alive but not answering: replace it
    kill "$old" 2>/dev/null
    wait_until 5 bash -c "! kill -0 $old 2>/dev/null" || kill -9 "$old" 2>/dev/null
  fi
  if [ ! -x "$KAFKA_MOCK_BIN" ] || [ "$KAFKA_MOCK_SRC" -nt "$KAFKA_MOCK_BIN" ]; then
    gcc -O2 -o "$KAFKA_MOCK_BIN.tmp.$$" "$KAFKA_MOCK_SRC" -lrdkafka >>"$STATE_DIR/kafka.log" 2>&1 &&
      mv -f "$KAFKA_MOCK_BIN.tmp.$$" "$KAFKA_MOCK_BIN" ||
      { rm -f "$KAFKA_MOCK_BIN.tmp.$$"; fail kafka "gcc kafka-mock.c -lrdkafka failed (see .brokers/kafka.log; needs librdkafka-dev)"; return 1; }
  fi
  rm -f "$KAFKA_BOOTSTRAP_FILE" "$KAFKA_ACK" "$KAFKA_CTL"
  : >"$STATE_DIR/kafka.out"
  (exec setsid "$KAFKA_MOCK_BIN" -b "${KAFKA_MOCK_BROKERS:-3}" -c "$KAFKA_CTL" -a "$KAFKA_ACK" \
    >"$STATE_DIR/kafka.out" 2>>"$STATE_DIR/kafka.log" </dev/null) &
  local pid=$!
  echo "$pid" >"$STATE_DIR/kafka.pid"
  wait_until 10 test -s "$STATE_DIR/kafka.out" || fail kafka "kafka-mock printed no bootstrap within 10 s (see .brokers/kafka.log)" || return 1
  head -n1 "$STATE_DIR/kafka.out" >"$KAFKA_BOOTSTRAP_FILE.tmp" && mv -f "$KAFKA_BOOTSTRAP_FILE.tmp" "$KAFKA_BOOTSTRAP_FILE"
  wait_until 10 kafka_ready || fail kafka "mock brokers not accepting connections (see .brokers/kafka.log)" || return 1
  echo "kafka ready at $(kafka_bootstrap) (started; bootstrap in .brokers/kafka.bootstrap, control FIFO .brokers/kafka.ctl)"
}

start_nats() {
  local bin dir="$STATE_DIR/nats"
  bin="$(command -v nats-server || echo /usr/sbin/nats-server)"
  mkdir -p "$dir"
  (cd "$STATE_DIR" && exec setsid "$bin" -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$dir" \
    >>"$STATE_DIR/nats.log" 2>&1 </dev/null) &
  echo $! >"$STATE_DIR/nats.pid"
  wait_until 30 nats_ready || fail nats "no INFO with JetStream on 127.0.0.1:$NATS_PORT within 30 s (see .brokers/nats.log)" || return 1
  echo "nats ready at 127.0.0.1:$NATS_PORT (started, JetStream in .brokers/nats)"
}

# --- 4. run -----------------------------------------------------------------
# A package's install script may have started its service already.
if [ ${#pkgs[@]} -gt 0 ]; then
  still=()
  for b in "${to_start[@]}"; do broker_ready "$b" || still+=("$b"); done
  to_start=("${still[@]}")
fi

declare -A job
run_job() { # BROKER FUNCTION: FUNCTION in the background, its result line and status in .brokers/
  rm -f "$STATE_DIR/$1.result"
  ("$2" >"$STATE_DIR/$1.result" 2>>"$STATE_DIR/$1.log"; echo $? >"$STATE_DIR/$1.rc") 9>&- &
  job[$1]=$!
}
for b in "${to_start[@]}"; do run_job "$b" "start_$b"; done
# A running broker may still need setting up (RabbitMQ's management plugin): already_<broker>.
for b in "${requested[@]}"; do
  [ -z "${job[$b]:-}" ] && declare -F "already_$b" >/dev/null && run_job "$b" "already_$b"
done

failed=()
for b in "${requested[@]}"; do
  if [ -n "${job[$b]:-}" ]; then
    wait "${job[$b]}"
    rc="$(cat "$STATE_DIR/$b.rc" 2>/dev/null || echo 1)"
    line="$(cat "$STATE_DIR/$b.result" 2>/dev/null)"
    rm -f "$STATE_DIR/$b.rc" "$STATE_DIR/$b.result"
    if [ "$rc" = 0 ]; then
      echo "$line"
    else
      echo "${line:-$b FAILED (see .brokers/$b.log)}" >&2
      failed+=("$b")
    fi
  else
    echo "$b ready at $(broker_addr "$b") (already running)"
  fi
done

# The pre-started PostgreSQL may lack the test database.
for b in "${requested[@]}"; do
  [ "$b" = postgres ] && [ -z "${job[postgres]:-}" ] && { ensure_test_db ||
    log "up.sh: warning: cannot connect as role postgres without a password or create database 'test' on 127.0.0.1:$POSTGRES_PORT (tests use postgres://postgres@127.0.0.1:5432/test: allow 'host all all 127.0.0.1/32 trust' in pg_hba.conf, or set DATABASE_URL)"; }
done

if [ ${#failed[@]} -gt 0 ]; then
  log "up.sh: could not start: ${failed[*]}"
  exit 1
fi
[ -t 1 ] && log "up.sh: now run: source scripts/brokers/env.sh"
exit 0
