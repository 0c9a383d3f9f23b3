#!/bin/sh
# Drives calls through the unchanged dialplan so astra has work in docker-compose: every
# CALL_INTERVAL seconds one FastAGI call (Local/agi@default -> agi://127.0.0.1:4573/ivr/menu)
# and every ARI_EVERY-th round one Stasis call (Local/stasis@default -> Stasis(astra-test)).
# Talks to Asterisk through its control socket (shared /var/run/asterisk volume).
set -eu
interval=${CALL_INTERVAL:-2}
ari_every=${ARI_EVERY:-5}
n=0
until asterisk -rx "core waitfullybooted" >/dev/null 2>&1; do sleep 1; done
echo "call-loop: Asterisk is up; one call every ${interval}s"
while :; do
  n=$((n + 1))
  asterisk -rx "channel originate Local/agi@default extension wait@default" >/dev/null 2>&1 || echo "call-loop: originate failed"
  if [ $((n % ari_every)) -eq 0 ]; then
    asterisk -rx "channel originate Local/stasis@default extension wait@default" >/dev/null 2>&1 || true
  fi
  sleep "$interval"
done
