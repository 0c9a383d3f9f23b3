#!/usr/bin/env bash
# Static checks of deploy/: every YAML file parses (PyYAML when present, else a JSON-only
# check is skipped with a note), Prometheus rules pass `promtool check rules` and their unit
# tests, the Grafana dashboard is valid JSON covering every documented series, and the
# Kubernetes termination grace periods exceed the configured drain_timeout; with ASTRA (the
# built executable), every shared library it loads comes from a package the Dockerfiles'
# runtime stages install (or from the base image: libc6, libstdc++6, libgcc-s1; sanitizer
# runtimes of a sanitizer build are ignored).
# Usage: deploy_check.sh REPO_ROOT [ASTRA]
set -euo pipefail
root=${1:?usage: deploy_check.sh REPO_ROOT [ASTRA]}
astra=${2:-}
[ -z "$astra" ] || astra=$(readlink -f "$astra")
cd "$root/deploy"
fail=0
if [ -n "$astra" ] && command -v ldd >/dev/null && command -v dpkg-query >/dev/null; then
  python3 - "$astra" <<'PY' || fail=1
import os, re, subprocess, sys
astra = sys.argv[1]
if not os.access(astra, os.X_OK):
    sys.exit(f"FAIL: {astra}: no such executable")
# The packages that provide the libraries astra loads (ldd: the whole closure).
needed = set()
for line in subprocess.run(["ldd", astra], capture_output=True, text=True).stdout.splitlines():
    m = re.search(r"=> (/\S+)", line)
    if not m:
        continue
    lib = m.group(1)
    for path in (lib, os.path.realpath(lib)):
        r = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
        if r.returncode == 0:
            needed.add(r.stdout.split(":")[0].strip())
            break
    else:
        needed.add("unknown:" + lib)
base = re.compile(r"^(libc6|libstdc\+\+6|libgcc-s1|libasan\d*|libubsan\d*|liblsan\d*|libtsan\d*)$")
def depends(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", pkg], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    out = []
    for alt in r.stdout.split(","):
        name = alt.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name:
            out.append(name)
    return out
bad = 0
for dockerfile in ("Dockerfile", "Dockerfile.user-service"):
    text = open(dockerfile).read()
    runtime = text[text.index(" AS runtime"):]
    listed = set(re.findall(r"\b(lib[a-z0-9][a-z0-9.+-]*)", runtime))
    closure, todo = set(), list(listed)
    while todo:  # what apt installs with the listed packages
        p = todo.pop()
        if p in closure:
            continue
        closure.add(p)
        todo.extend(depends(p))
    for pkg in sorted(needed):
        if base.match(pkg) or pkg in closure:
            continue
        print(f"FAIL: {dockerfile}: the runtime stage installs no package that brings {pkg}, which {os.path.basename(astra)} loads")
        bad = 1
sys.exit(bad)
PY
fi
if command -v promtool >/dev/null; then
  promtool check rules prometheus/alerts.yml >/dev/null || { echo "FAIL: promtool check rules"; fail=1; }
  (cd prometheus && promtool test rules alerts_test.yml >/dev/null) || { echo "FAIL: promtool test rules"; fail=1; }
else
  echo "note: promtool not installed; rule checks skipped"
fi
python3 - "$root" <<'PY' || fail=1
import glob, json, os, re, sys
root = sys.argv[1]
bad = []
try:
    import yaml
except ImportError:
    yaml = None
    print("note: PyYAML not installed; YAML parse checks skipped")
docs = {}
if yaml:
    for path in sorted(glob.glob("**/*.yml", recursive=True) + glob.glob("**/*.yaml", recursive=True)):
        try:
            docs[path] = [d for d in yaml.safe_load_all(open(path)) if d is not None]
        except yaml.YAMLError as e:
            bad.append(f"{path}: {e}")
    # Kubernetes: grace period > drain_timeout of the config each Deployment runs.
    cm = next(d for d in docs.get("k8s/configmap.yaml", []) if d.get("kind") == "ConfigMap")
    def seconds(v):
        m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(v))
        n, unit = float(m.group(1)), m.group(2) or "s"
        return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    for path in ("k8s/deployment.yaml",):
        for d in docs.get(path, []):
            spec = d["spec"]["template"]["spec"]
            c = spec["containers"][0]
            cfg_name = os.path.basename(c["args"][c["args"].index("--config") + 1])
            drain = seconds(yaml.safe_load(cm["data"][cfg_name]).get("drain_timeout", "30s"))
            pre = 0
            cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
            if cmd[:1] == ["sleep"]:
                pre = float(cmd[1])
            if not spec["terminationGracePeriodSeconds"] > drain + pre:
                bad.append(f"{path}: terminationGracePeriodSeconds {spec['terminationGracePeriodSeconds']} <= preStop {pre} + drain_timeout {drain}")
            probes = (c["livenessProbe"]["httpGet"]["path"], c["readinessProbe"]["httpGet"]["path"])
            if probes != ("/healthz", "/readyz"):
                bad.append(f"{path}: probes {probes}")
    kinds = {d["kind"] for ds in docs.values() for d in ds if isinstance(d, dict) and "kind" in d}
    for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"):
        if k not in kinds:
            bad.append(f"k8s: no {k}")
    compose = docs["docker-compose.yml"][0]
    for s in ("asterisk", "astra", "nats", "prometheus", "grafana"):
        if s not in compose["services"]:
            bad.append(f"docker-compose.yml: no service {s}")
dash = json.load(open("grafana/dashboards/astra.json"))
exprs = " ".join(t["expr"] for p in dash["panels"] for t in p.get("targets", []))
for series in ("astra_ami_connected astra_ami_reconnects_total astra_ami_events_total astra_ami_action_duration_seconds "
               "astra_ami_actions_total astra_ari_connected astra_ari_events_total astra_ari_requests_total "
               "astra_ari_channel_actors astra_ari_bridge_actors astra_agi_calls_active astra_agi_calls_total "
               "astra_agi_command_duration_seconds astra_queue_dropped_total astra_actor_restarts_total "
               "process_resident_memory_bytes process_cpu_seconds_total process_open_fds process_start_time_seconds").split():
    if series not in exprs:
        bad.append(f"grafana dashboard: no panel for {series}")
dockerfile = open("Dockerfile").read()
for needle in ("FROM debian:bookworm AS build", "FROM debian:bookworm-slim", "scripts/install-deps", "USER ", "HEALTHCHECK", "EXPOSE 4573 9573"):
    if needle not in dockerfile:
        bad.append(f"Dockerfile: missing {needle!r}")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
[ "$fail" -eq 0 ] && echo "deploy_check: all checks passed"
exit "$fail"
