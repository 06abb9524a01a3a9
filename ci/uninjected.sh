#!/bin/sh
# A `htab-mem matrix --baseline-exe` for measuring what the gate catches: runs
# $UNINJECTED_EXE (default: target/release/htab-mem) with any injected slowdown taken out of
# each cell's plan, so that `--inject-slowdown` slows only the matrix's own side
# (docs/results-tools.md#the-same-job-baseline). A baseline file written through it records
# no injection: its first cell's child says what it ran.
exe=${UNINJECTED_EXE:-$(cd "$(dirname "$0")/.." && pwd)/target/release/htab-mem}
[ "${1:-}" = --child ] || exec "$exe" "$@"
python3 -c '
import json, sys
p = json.load(sys.stdin)
if p.get("benchmark") == "htab-mem":
    p["plan"]["inject_slowdown_pct"] = 0
    p["plan"]["inject_flavors"] = []
json.dump(p, sys.stdout)
' | exec "$exe" "$@"
