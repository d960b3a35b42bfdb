#!/usr/bin/env bash
# The whole test suite, against real brokers: starts the ones that are not answering, builds, runs jest.
#   npm test                  everything
#   npm test -- packages/kafka   one package (arguments go to jest)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/brokers/up.sh
# shellcheck source=brokers/env.sh
source scripts/brokers/env.sh
npx tsc -b tsconfig.build.json
npx jest "$@"
