#!/usr/bin/env bash
# What npm would publish, checked as a user's tools see it: publint (package.json, exports, files)
# and Are The Types Wrong (types resolve under node10, node16 from CJS and ESM, and bundlers).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in packages/*/; do
  name=$(node -p "require('./${dir}package.json').name")
  verdict=ok
  if ! out=$(npx publint --strict "$dir" 2>&1); then echo "$out"; verdict=FAILED; fi
  if ! out=$(npx attw --pack "$dir" --format ascii --no-color 2>&1); then echo "$out"; verdict=FAILED; fi
  [ "$verdict" = ok ] || status=1
  echo "check-packages: $name $verdict"
done
exit $status
