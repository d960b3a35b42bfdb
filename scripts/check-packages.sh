#!/usr/bin/env bash
# What npm would publish, checked as a user's tools see it: publint (package.json, exports, files)
# and Are The Types Wrong (types resolve under node10, node16 from CJS and ESM, and bundlers).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in packages/*/; do
  name=$(node -p "require('./${dir}package.json').name")
  if ! out=$(npx publint --strict "$dir" 2>&1); then echo "$out"; status=1; fi
  # --no-emoji keeps the table readable in CI logs; "cjs-resolves-to-esm" cannot happen here (all CommonJS).
  if ! out=$(npx attw --pack "$dir" --format ascii --no-color 2>&1); then echo "$out"; status=1; fi
  echo "check-packages: $name $([ $status -eq 0 ] && echo ok || echo FAILED)"
done
exit $status
