#!/usr/bin/env bash
# The whole test suite, against real brokers: starts the ones that are not answering, builds, runs jest.
#   npm test                      everything
#   npm test -- packages/kafka    one package (arguments go to jest)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/brokers/up.sh
# shellcheck source=brokers/env.sh
source scripts/brokers/env.sh
npx tsc -b tsconfig.build.json

results=$(mktemp)
status=0
npx jest --json --outputFile="$results" "$@" || status=$?
# One plain closing line; "skipped" are cases a backend's declared capabilities rule out.
node -e '
  const r = JSON.parse(require("node:fs").readFileSync(process.argv[1], "utf8"));
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$results" || true
rm -f "$results"
exit "$status"
