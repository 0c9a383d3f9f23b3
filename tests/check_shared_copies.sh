#!/usr/bin/env bash
# The repository carries unchanged copies of ../shared/asterisk so it builds and tests
# from a plain clone. When ../shared exists, every copy must still match it byte for byte.
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
shared="$repo/../shared/asterisk"
if [ ! -d "$shared" ]; then
  echo "no ../shared beside the repository: nothing to compare (copies are used as they are)"
  exit 0
fi
status=0
compare() { # compare SHARED_DIR REPO_DIR
  if ! diff -r "$1" "$2" >/dev/null; then
    echo "MISMATCH: $2 differs from $1"; diff -rq "$1" "$2" || true; status=1
  else
    echo "ok: $2"
  fi
}
compare "$shared/fixtures" "$repo/tests/data/asterisk/fixtures"
compare "$shared/docs" "$repo/codegen/asterisk/docs"
compare "$shared/ari-api-docs" "$repo/codegen/asterisk/ari-api-docs"
cmp -s "$shared/README.md" "$repo/tests/data/asterisk/README.md" || { echo "MISMATCH: README.md"; status=1; }
for f in "$shared"/config/*; do
  [ -f "$repo/deploy/asterisk/$(basename "$f")" ] || { echo "MISSING: deploy/asterisk/$(basename "$f")"; status=1; }
done
exit $status
