# Environment for the integration tests against the local brokers.
#
#   bash scripts/brokers/up.sh && source scripts/brokers/env.sh
#
# Meant to be sourced (bash or zsh). A variable that is already set is kept,
# except KAFKA_SERVER when it still holds the value a previous `source` of this
# file put there (the mock's ports change each time it is started).
# Kafka's bootstrap servers are read from .brokers/kafka.bootstrap, written by
# up.sh; a test that runs without this file can read that file itself.
# shellcheck shell=bash

if [ -n "${BASH_VERSION:-}" ]; then
  _ep_env_src="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
  eval '_ep_env_src="${(%):-%x}"'
else
  _ep_env_src="$0"
fi
_ep_repo_root="$(cd "$(dirname "$_ep_env_src")/../.." && pwd)"

_ep_default() { # NAME VALUE: export NAME=VALUE unless NAME is already set
  eval "[ -n \"\${$1+x}\" ]" || eval "$1=\$2"
  export "${1?}"
}

_ep_default REDIS_URL "redis://127.0.0.1:6379"
_ep_default RABBITMQ_URL "amqp://guest:guest@127.0.0.1:5672"
# The management plugin's HTTP API (up.sh enables it): RabbitMQ's listGroups. Credentials from RABBITMQ_URL.
_ep_default RABBITMQ_MANAGEMENT_URL "http://127.0.0.1:15672"
_ep_default DATABASE_URL "postgres://postgres@127.0.0.1:5432/test"
_ep_default PUBSUB_EMULATOR_HOST "127.0.0.1:8085"
_ep_default GCP_PROJECT_ID "eventport-local"
_ep_default METADATA_SERVER_DETECTION "none"
_ep_default AWS_ENDPOINT_URL "http://127.0.0.1:4568"
_ep_default AWS_REGION "us-east-1"
_ep_default AWS_ACCESS_KEY_ID "local"
_ep_default AWS_SECRET_ACCESS_KEY "local"
# Kinesis groups need a checkpoint store every member shares.
_ep_default KINESIS_CHECKPOINT_URL "redis://127.0.0.1:6379"
_ep_default NATS_URL "nats://127.0.0.1:4222"

if [ -s "$_ep_repo_root/.brokers/kafka.bootstrap" ]; then
  _ep_kafka="$(head -n1 "$_ep_repo_root/.brokers/kafka.bootstrap")"
  if [ -z "${KAFKA_SERVER:-}" ] || [ "${KAFKA_SERVER:-}" = "${_EVENTPORT_ENV_KAFKA_SERVER:-}" ]; then
    KAFKA_SERVER="$_ep_kafka"
    _EVENTPORT_ENV_KAFKA_SERVER="$_ep_kafka"
    export KAFKA_SERVER _EVENTPORT_ENV_KAFKA_SERVER
  fi
  unset _ep_kafka
elif [ -z "${KAFKA_SERVER:-}" ]; then
  echo "env.sh: .brokers/kafka.bootstrap not found, KAFKA_SERVER not set (run: bash scripts/brokers/up.sh kafka)" >&2
fi

unset _ep_env_src _ep_repo_root
unset -f _ep_default
