#!/usr/bin/env python3
"""Proves `htab-mem compare` both ways on this machine: no false alarm between two matrices
of one commit, and a controlled slowdown caught.

    python3 ci/compare_check.py --out DIR [--bin PATH] [--flavor immediate-reuse]
        [--slowdown 15] [--max-slowdown 0.9] [-- MATRIX OPTIONS...]

Runs three matrices with the same options (the defaults unless given after --):
  A: every flavor;
  C: every flavor, with `--inject-slowdown PCT --inject-flavors FLAVOR` (test only);
  D: FLAVOR alone, without the slowdown.
The same-commit comparison is A against C for every other flavor's cells and A against D for
FLAVOR's (so every cell of the matrix is measured twice without a slowdown); the slowdown
comparison is A against C for FLAVOR's cells. It prints, per flavor, the cells compare flags
slower, the spread of the cells' median loops/s between the two same-commit measurements
(p90 of |ratio - 1|, raw and normalised), and how many cells' trials were flagged busy.
It also prints compare's per-flavor verdicts (a flavor slower across its cells). Exit
status 0 when the targets hold (no false alarm, >= 90 % of FLAVOR's cells caught, FLAVOR and
no other flagged per flavor), 1 when they do not, 2 when it cannot run. Matrices already in DIR are reused (resume).
"""

import argparse
import json
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run_matrix(binary, out, args):
    cmd = [binary, "matrix", "--out", str(out), "-q", *args]
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd)
    if r.returncode not in (0, 1):
        sys.exit(f"compare_check: matrix failed with status {r.returncode}")


def compare_rows(binary, base, new, max_slowdown):
    """(cell id -> verdict, cell id -> normalised ratio) of compare's loops/s rows, and
    flavor -> its verdict across its cells."""
    cmd = [binary, "compare", str(base), str(new), "--max-slowdown", str(max_slowdown)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        sys.exit(f"compare_check: compare failed: {r.stderr.strip()}")
    verdicts, ratios, flavors = {}, {}, {}
    for line in r.stdout.splitlines():
        m = re.match(r"  (\S+): \d+ cells, .*: (.*)$", line)
        if m:
            flavors[m.group(1)] = m.group(2)
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) == 8 and cols[1] == "loops_per_sec":
            verdicts[cols[0]] = cols[7]
            ratios[cols[0]] = float(cols[5]) if cols[5] != "-" else None
    return verdicts, ratios, flavors


def without_flavors(args):
    """The matrix options less any flavor list (-A X, --allocators X, --allocators=X)."""
    out, skip = [], False
    for x in args:
        if skip:
            skip = False
        elif x in ("-A", "--allocators"):
            skip = True
        elif not x.startswith("--allocators="):
            out.append(x)
    return out


def cells(path):
    return {c["id"]: c for c in json.loads(path.read_text())["results"]}


def busy(c):
    return any(t.get("busy") for t in c.get("trials", [])) or bool(
        (c.get("machine") or {}).get("busy"))


def p90(xs):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--bin", default=str(ROOT / "target/release/htab-mem"))
    ap.add_argument("--flavor", default="immediate-reuse")
    ap.add_argument("--slowdown", type=int, default=15)
    ap.add_argument("--max-slowdown", type=float, default=None,
                    help="compare's threshold (default: compare's own)")
    ap.add_argument("matrix_args", nargs="*")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    A, C, D = (a.out / n for n in ("A.json", "C.json", "D.json"))
    run_matrix(a.bin, A, a.matrix_args)
    run_matrix(a.bin, C, [*a.matrix_args, "--inject-slowdown", str(a.slowdown),
                          "--inject-flavors", a.flavor])
    run_matrix(a.bin, D, [*without_flavors(a.matrix_args), "-A", a.flavor])
    thr = a.max_slowdown
    if thr is None:
        help_text = subprocess.run([a.bin, "compare", "--help"], capture_output=True,
                                   text=True).stdout
        thr = float(re.search(r"max-slowdown.*?\[default: ([0-9.]+)\]", help_text,
                              re.S).group(1))
    ca, cc, cd = cells(A), cells(C), cells(D)
    v_ac, r_ac, f_ac = compare_rows(a.bin, A, C, thr)
    v_ad, r_ad, f_ad = compare_rows(a.bin, A, D, thr)
    flavor_of = {i: c["flavor"] for i, c in ca.items()}
    same, caught, spread_raw, spread_norm, busy_cells = {}, [], [], [], 0
    for i, c in ca.items():
        f = flavor_of[i]
        injected = f == a.flavor
        twin = cd.get(i) if injected else cc.get(i)
        verdict = (v_ad if injected else v_ac).get(i)
        if twin is None or verdict is None:
            continue
        busy_cells += busy(c) + busy(twin)
        same.setdefault(f, []).append(verdict)
        b, n = (x["metrics"]["loops_per_sec"]["value"] for x in (c, twin))
        if b > 0:
            spread_raw.append(abs(n / b - 1))
        r = (r_ad if injected else r_ac).get(i)
        if r is not None:
            spread_norm.append(abs(r - 1))
        if injected and i in v_ac:
            caught.append(v_ac[i])
    flagged = lambda vs: sum("REGRESSION" in v for v in vs)
    print(f"\ncompare threshold: loops/s ratio < {thr}; slowdown injected: {a.slowdown} % "
          f"in {a.flavor}")
    print("same commit (A vs C, and A vs D for the injected flavor), cells flagged slower:")
    false_alarms = 0
    for f, vs in same.items():
        false_alarms += flagged(vs)
        print(f"  {f}: {flagged(vs)} of {len(vs)}")
    print(f"  spread of a cell's median loops/s between the two: p90 of |ratio - 1| "
          f"{p90(spread_raw):.3f} raw, {p90(spread_norm):.3f} normalised, over "
          f"{len(spread_raw)} cells; {busy_cells} of {2 * len(spread_raw)} measurements "
          f"flagged busy")
    n_caught = flagged(caught)
    print(f"slowdown caught (A vs C): {n_caught} of {len(caught)} {a.flavor} cells; "
          f"other flavors' cells flagged in the same comparison: "
          f"{sum(flagged(vs) for f, vs in same.items() if f != a.flavor)}")
    per_cell = false_alarms == 0 and caught and n_caught >= 0.9 * len(caught)
    print("per-cell targets (no false alarm, >= 90 % of the slowed cells caught):",
          "met" if per_cell else "NOT met")
    slowed = f_ac.get(a.flavor, "-")
    others = [f for f, v in f_ac.items() if f != a.flavor and "REGRESSION" in v]
    same_flavor = f_ad.get(a.flavor, "-")
    print(f"per flavor: {a.flavor} in A vs C: {slowed}; in A vs D: {same_flavor}; other "
          f"flavors flagged in A vs C: {others or 'none'}")
    per_flavor = "REGRESSION" in slowed and not others and "REGRESSION" not in same_flavor
    print("per-flavor targets (the slowed flavor flagged, no other):",
          "met" if per_flavor else "NOT met")
    return 0 if per_cell and per_flavor else 1


if __name__ == "__main__":
    sys.exit(main())
