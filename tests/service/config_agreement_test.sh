#!/usr/bin/env bash
# Issue 17: `astra check-config F` and `astra run --config F` agree on every configuration.
#   check-config exit 0  <=>  run starts: its admin /readyz answers (200 or 503: upstreams are
#                             not reachable here, which must not stop it) before it exits;
#   check-config exit 2  <=>  run exits 2 with the same problem lines (FILE: KEY.PATH: reason).
# Cases: every fenced ```yaml block of docs/*.md and README.md, deploy/astra.*.yaml, every
# astra configuration in a deploy/k8s ConfigMap, tests/service/configs/*.yaml, generated
# ARI-only, AMI-only, empty and FastAGI-only files, and `astra run` without any file. Each runs
# in two environments: bare, and with the secrets the examples name (so that they are valid).
# Listeners go to free loopback ports (ASTRA_ADMIN_LISTEN, ASTRA_AGI_LISTEN), so this test can
# run next to others. Usage: config_agreement_test.sh ASTRA SRC_DIR
set -u
astra=$1 src=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/astra-agreement-XXXXXX")
run_pid=
cleanup() {
  if [ -n "$run_pid" ]; then kill -KILL "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail=0
failed() { echo "FAIL: $*"; fail=1; }

# --- cases: "LABEL<TAB>FILE" lines; FILE "-" means no configuration file at all.
mkdir -p "$work/cases"
python3 - "$src" "$work/cases" >"$work/cases.txt" <<'PY' || { echo "FAIL: cannot collect the cases"; exit 1; }
import glob, os, re, sys
src, out = sys.argv[1], sys.argv[2]
n = 0
def case(label, text):
    global n
    n += 1
    path = os.path.join(out, "%02d-%s.yaml" % (n, re.sub(r"[^A-Za-z0-9.]+", "_", label)))
    open(path, "w").write(text)
    print("%s\t%s" % (label, path))
docs = sorted(glob.glob(os.path.join(src, "docs", "*.md"))) + [os.path.join(src, "README.md")]
blocks = 0
for md in docs:
    if not os.path.exists(md):
        continue
    rel = os.path.relpath(md, src)
    for i, m in enumerate(re.finditer(r"^```ya?ml[^\n]*\n(.*?)^```", open(md).read(), re.S | re.M)):
        case("%s#yaml%d" % (rel, i + 1), m.group(1))
        blocks += 1
if blocks == 0:
    sys.exit("no ```yaml block found in docs/")
for f in sorted(glob.glob(os.path.join(src, "deploy", "astra.*.yaml"))):
    print("%s\t%s" % (os.path.relpath(f, src), f))
# ConfigMap data entries NAME.yaml: | (block scalars), without a YAML library.
found = 0
for f in sorted(glob.glob(os.path.join(src, "deploy", "k8s", "*.yaml"))):
    lines = open(f).read().split("\n")
    if not any(l.strip() == "kind: ConfigMap" for l in lines):
        continue
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s+)([\w.-]+\.ya?ml):\s*\|\s*$", lines[i])
        i += 1
        if not m:
            continue
        indent, body = len(m.group(1)), []
        while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
            body.append(lines[i])
            i += 1
        strip = min(len(l) - len(l.lstrip()) for l in body if l.strip())
        case("%s:%s" % (os.path.relpath(f, src), m.group(2)), "\n".join(l[strip:] for l in body) + "\n")
        found += 1
if found == 0:
    sys.exit("no astra configuration found in the deploy/k8s ConfigMaps")
for f in sorted(glob.glob(os.path.join(src, "tests", "service", "configs", "*.yaml"))):
    print("%s\t%s" % (os.path.relpath(f, src), f))
case("generated:ari-only", "servers:\n  - name: pbx\n    ari: {url: \"http://127.0.0.1:9\", username: u, password: p}\n")
case("generated:ami-only", "servers:\n  - name: pbx\n    ami: {host: 127.0.0.1, port: 9, username: u, secret: s}\n")
case("generated:empty", "")
case("generated:comments-only", "# nothing configured\n")
case("generated:fastagi-only", "agi:\n  routes:\n    - {path: /ivr/menu, handler: demo}\n")
case("generated:nothing-enabled", "servers: []\nagi: {enabled: false}\n")
print("no file\t-")
PY

# The secrets the examples name, for the second environment.
echo amp111 >"$work/ami.secret"
echo asterisk >"$work/ari.secret"
secrets=(AMI_SECRET=amp111 ARI_PASSWORD=asterisk AGI_TOKEN=t0ken WEBHOOK_SECRET=wh00k ARI_OUT_PASSWORD=outpass NATS_TOKEN=natst0k
         ASTRA_SERVER_PBX_1_AMI_SECRET_FILE="$work/ami.secret"
         ASTRA_SERVER_PBX_1_ARI_PASSWORD_FILE="$work/ari.secret"
         ASTRA_TEST_EMPTY_VARIABLE=)

# Free loopback ports, two per run (bound together, so distinct; released before use).
ports=($(python3 -c '
import socket
socks = [socket.socket() for _ in range(160)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))'))
[ ${#ports[@]} -eq 160 ] || { echo "FAIL: cannot find free ports"; exit 1; }
next_port=0

# run_case LABEL FILE ENV_NAME ENV...: sets VERDICT (ok|refused) and fails on disagreement.
run_case() {
  local label=$1 file=$2 env_name=$3; shift 3
  local admin_port=${ports[$((next_port++ % ${#ports[@]}))]} agi_port=${ports[$((next_port++ % ${#ports[@]}))]}
  # A clean environment: nothing from the caller's ASTRA_* variables, no ASTRA_CONFIG.
  local -a envs=(env -i PATH="$PATH" HOME="${HOME:-/tmp}" "$@"
                 ASTRA_ADMIN_LISTEN=127.0.0.1:$admin_port ASTRA_AGI_LISTEN=127.0.0.1:$agi_port)
  local what="$label ($env_name environment)"
  # check-config (no file: an empty file is the same configuration).
  local check_file=$file
  [ "$file" = - ] && { check_file=$work/none.yaml; : >"$check_file"; }
  "${envs[@]}" "$astra" check-config "$check_file" </dev/null >"$work/check.out" 2>"$work/check.err"
  local crc=$?
  if [ $crc -ne 0 ] && [ $crc -ne 2 ]; then failed "$what: check-config exited $crc"; fi
  # run, until /readyz answers or it exits (10 s).
  local -a args=(run)
  [ "$file" != - ] && args+=(--config "$file")
  "${envs[@]}" "$astra" "${args[@]}" </dev/null >"$work/run.log" 2>&1 &
  run_pid=$!
  local started=0 rrc=running code i
  for i in $(seq 1 100); do
    code=$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$admin_port/readyz" </dev/null 2>/dev/null)
    if [ "$code" != 000 ] && [ -n "$code" ]; then started=1; break; fi
    if ! kill -0 "$run_pid" 2>/dev/null; then break; fi
    sleep 0.1
  done
  if [ $started -eq 1 ]; then
    kill -TERM "$run_pid" 2>/dev/null
    for i in $(seq 1 100); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
  elif kill -0 "$run_pid" 2>/dev/null; then
    kill -KILL "$run_pid" 2>/dev/null
    wait "$run_pid" 2>/dev/null
    rrc=timeout
  else
    wait "$run_pid"; rrc=$?
  fi
  run_pid=
  VERDICT=other
  if [ $crc -eq 0 ] && [ $started -eq 1 ]; then
    VERDICT=ok
  elif [ $crc -eq 2 ] && [ "$rrc" = 2 ]; then
    # The same problems, listed the same way.
    local origin=$file
    [ "$file" = - ] && origin="(environment)"
    problems_of() { awk -v p="$1: " 'index($0, p) == 1 { print substr($0, length(p) + 1) }' "$2"; }
    problems_of "$check_file" "$work/check.err" >"$work/check.problems"
    problems_of "$origin" "$work/run.log" >"$work/run.problems"
    if [ ! -s "$work/check.problems" ] || ! cmp -s "$work/check.problems" "$work/run.problems"; then
      failed "$what: check-config and run list different problems:"
      diff "$work/check.problems" "$work/run.problems" | sed 's/^/    /'
    fi
    VERDICT=refused
  else
    local run_verdict="exited $rrc"
    [ $started -eq 1 ] && run_verdict="started (/readyz answered $code)"
    [ "$rrc" = timeout ] && run_verdict="neither answered /readyz nor exited within 10 s"
    failed "$what: check-config exited $crc but run $run_verdict"
    sed 's/^/    check-config: /' "$work/check.err" | head -n 20
    tail -n 20 "$work/run.log" | sed 's/^/    run: /'
  fi
}

# expect LABEL WANTED: the verdict the case must have (beyond agreeing).
expect() {
  if [ "$VERDICT" != "$2" ] && [ "$VERDICT" != other ]; then failed "$1: verdict $VERDICT, want $2"; fi
}

cases=0
while IFS=$'\t' read -r label file; do
  cases=$((cases + 1))
  run_case "$label" "$file" bare
  case $label in
    generated:*|"no file"|deploy/astra.demo.yaml) expect "$label (bare)" ok ;;
    tests/service/configs/bad-*) expect "$label (bare)" refused ;;
  esac
  run_case "$label" "$file" with-secrets "${secrets[@]}"
  case $label in
    tests/service/configs/bad-*) expect "$label (with secrets)" refused ;;
    *) expect "$label (with secrets)" ok ;;  # every example is valid once its secrets exist
  esac
done <"$work/cases.txt"

[ $cases -ge 10 ] || failed "only $cases cases collected"
[ $fail -eq 0 ] && echo "check-config and run agree on all $cases configurations (2 environments each)"
exit $fail
