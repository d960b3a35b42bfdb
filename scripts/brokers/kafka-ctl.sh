#!/usr/bin/env bash
# Send one command to the local Kafka mock (started by scripts/brokers/up.sh)
# and wait for its acknowledgement.
#
#   bash scripts/brokers/kafka-ctl.sh down 1
#   bash scripts/brokers/kafka-ctl.sh errors 0 6 3     # next 3 Produce requests fail with NOT_LEADER_OR_FOLLOWER
#
# Prints "ok <command>" (exit 0) or "err <reason>: <command>" (exit 1).
# Same as `echo "down 1" > .brokers/kafka.ctl`, except that it waits until the
# mock has applied the command. Commands: see the comment at the top of
# scripts/brokers/kafka-mock.c.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ $# -gt 0 ] || { log "usage: $0 <command> [args...]"; exit 2; }
kafka_ctl "$@"
