#!/usr/bin/env bash
# The soak (issue 14, item 4): lookup_verify at -p 16 under every grace-period flavor for
# SOAK_SECONDS each (default 600), then the RCU torture test for SOAK_SECONDS, and the checks:
# per flavor 0 incorrect lookups, at least SOAK_MIN_VERIFIED verified lookups (default 1e8
# for a full run, scaled down with the duration), 0 leaked objects, no upward memory trend;
# the torture test sees no poisoned object. Exit 1 when any check fails.
#
#   ci/soak.sh                      # the full soak: 5 x 10 min + 10 min of torture
#   SOAK_SECONDS=20 ci/soak.sh      # what .ci/run runs
#
# Settings (environment): SOAK_SECONDS, SOAK_WARMUP (seconds left out of the checks, default
# 5), SOAK_PRODUCERS (16), SOAK_FLAVORS (default: the grace-period flavors), SOAK_MIN_VERIFIED,
# SOAK_TORTURE=0 (skip the torture test), SOAK_OUT (where the JSON files and report.md go,
# default ci/out/soak), HTAB_MEM (a built binary; default: cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${SOAK_SECONDS:-600}
warmup=${SOAK_WARMUP:-5}
producers=${SOAK_PRODUCERS:-16}
# The flavors whose REUSE_AFTER_GP is true (allocators/src/*.rs); immediate-reuse and prealloc
# reuse at once and are expected to fail the oracle.
flavors=${SOAK_FLAVORS:-reuse-after-gp free-after-gp call-rcu-free free-rcu malloc-call-rcu}
# 10^8 verified lookups per flavor over 600 s, pro rata for shorter runs.
min_verified=${SOAK_MIN_VERIFIED:-$((100000000 * secs / 600))}
out=${SOAK_OUT:-ci/out/soak}

case $secs in '' | *[!0-9]* | 0) echo "soak: SOAK_SECONDS must be a positive integer" >&2; exit 2 ;; esac
mkdir -p "$out"
rm -f "$out"/*.json "$out"/report.md

if [ -z "${HTAB_MEM:-}" ]; then
  cargo build --release -q -p harness
  HTAB_MEM=target/release/htab-mem
fi

t0=$SECONDS
fail=0
report=$out/report.md
{
  echo "# soak: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  echo
  echo "lookup_verify -p $producers, ${secs} s measured (+${warmup} s warm-up) per flavor;" \
    "$(nproc) CPUs, load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo
} >"$report"

files=()
for f in $flavors; do
  json=$out/lookup_verify-$f.json
  echo "soak: $f: lookup_verify -p $producers for ${secs} s" >&2
  rc=0
  "$HTAB_MEM" -A "$f" --use-case lookup_verify -p "$producers" -w "$warmup" -d "$secs" -q \
    --json "$json" >"$out/lookup_verify-$f.txt" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "soak: $f: htab-mem exited $rc (see $out/lookup_verify-$f.txt)" >&2
    tail -5 "$out/lookup_verify-$f.txt" >&2
    fail=1
  fi
  [ -f "$json" ] && files+=("$json")
done

if [ "${#files[@]}" -gt 0 ]; then
  python3 ci/soak_report.py --header --min-verified "$min_verified" "${files[@]}" >>"$report" || fail=1
else
  fail=1
fi
echo >>"$report"
echo "load average after the flavors: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$report"

# The RCU torture test has no duration knob: run its minute-long variant (30 s with instant
# grace periods, 30 s with 1 ms ones) while a minute or more remains, then the second-long
# one until the time is up. Each run starts afresh (its retired objects are freed at its end).
if [ "${SOAK_TORTURE:-1}" != 0 ]; then
  echo "soak: RCU torture for ${secs} s" >&2
  torture=$(cargo test -q -p rcu --test torture --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "torture":
        print(m["executable"])')
  runs=0
  tfail=0
  end=$((SECONDS + secs))
  while [ "$SECONDS" -lt "$end" ]; do
    if [ $((end - SECONDS)) -ge 60 ]; then
      t=(--ignored --exact torture_for_a_minute)
    else
      t=(--exact torture_briefly)
    fi
    if ! "$torture" "${t[@]}" -q >>"$out/torture.txt" 2>&1; then
      tfail=1
      break
    fi
    runs=$((runs + 1))
  done
  if [ "$tfail" -ne 0 ]; then
    echo "soak: the torture test failed (see $out/torture.txt)" >&2
    echo "RCU torture: FAIL after $runs runs (see torture.txt)" >>"$report"
    fail=1
  else
    echo "RCU torture: $runs runs over ${secs} s, no poisoned object seen" >>"$report"
  fi
fi

echo "soak took $((SECONDS - t0)) s" >>"$report"
cat "$report"
if [ "$fail" -ne 0 ]; then
  echo "soak: FAILED" >&2
  exit 1
fi
echo "soak: passed" >&2
