#!/usr/bin/env bash
# `astra check-config` and `astra run` on bad configurations: exit 2 and every expected
# problem line on stderr; on valid ones: exit 0. Usage: check_config_test.sh ASTRA SRC_DIR
set -u
astra=$1 src=$2
dir=$src/tests/service/configs
fail=0
check_bad() {  # FILE EXPECTED SUBCOMMAND...
  local file=$1 expected=$2; shift 2
  local err rc
  err=$(env -u ASTRA_TEST_UNSET_VARIABLE ASTRA_TEST_EMPTY_VARIABLE= "$astra" "$@" 2>&1 >/dev/null); rc=$?
  if [ $rc -ne 2 ]; then echo "FAIL: astra $* exited $rc, want 2"; fail=1; fi
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    if ! grep -qF -- "$line" <<<"$err"; then echo "FAIL: astra $*: missing problem: $line"; fail=1; fi
  done <"$expected"
  local want got
  want=$(grep -c . "$expected"); got=$(grep -c "^$file: " <<<"$err")
  if [ "$got" -lt "$want" ]; then echo "FAIL: astra $*: $got problem lines, want >= $want"; fail=1; fi
}
for f in "$dir"/bad-*.yaml; do
  exp=${f%.yaml}.expected
  check_bad "$f" "$exp" check-config "$f"
  check_bad "$f" "$exp" run --config "$f"
done
# A missing file is a configuration error too.
"$astra" check-config /nonexistent/astra.yaml >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL: missing file exited $rc, want 2"; fail=1; }
# Environment overrides are validated like file values.
err=$(ASTRA_ADMIN_LISTEN=bogus "$astra" check-config "$src/deploy/astra.demo.yaml" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -qF 'admin.listen: expected HOST:PORT, got "bogus" (from ASTRA_ADMIN_LISTEN)' <<<"$err" \
  || { echo "FAIL: bad ASTRA_ADMIN_LISTEN: rc=$rc: $err"; fail=1; }
# Valid configurations.
out=$("$astra" check-config "$src/deploy/astra.demo.yaml" 2>&1); rc=$?
[ $rc -eq 0 ] || { echo "FAIL: demo config: rc=$rc: $out"; fail=1; }
grep -q "ok (1 servers: 1 AMI, 1 ARI" <<<"$out" || { echo "FAIL: demo config summary: $out"; fail=1; }
# Usage errors.
"$astra" check-config >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL: check-config without FILE exited $rc, want 2"; fail=1; }
[ $fail -eq 0 ] && echo "check-config: all cases passed"
exit $fail
