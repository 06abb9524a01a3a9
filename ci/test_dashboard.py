#!/usr/bin/env python3
"""Browser test of the HTML dashboard: headless Chromium loads the page from a loopback
server; the test checks that every plot loaded and drew something, and that the tables hold
the numbers of the latest result set's files.

    python3 ci/test_dashboard.py [--bin PATH] [--results DIR] [--screenshot PNG]

Without --results it renders two synthetic result sets (made here) in a temp folder. It
installs Debian's chromium when /usr/bin/chromium is missing (needs root). Exit status 0
when every check passes, 1 otherwise, 2 when it cannot run at all.
"""

import argparse
import functools
import html
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
MIB = 1024.0 * 1024.0
# The table columns that carry numbers, with their scale (as the page shows them).
METRICS = {
    "loops_per_sec_per_producer": 1e3,
    "loops_per_sec": 1e3,
    "mem_avg": MIB,
    "mem_peak": MIB,
    "rss_peak": MIB,
}

# Loaded beside the dashboard: opens it in a frame, waits for every image, draws each onto
# a canvas and counts non-white pixels, reads every table cell, and writes the lot as JSON.
CHECK_PAGE = """<!DOCTYPE html><html><body>
<iframe id="f" src="index.html" style="width:1300px;height:900px"></iframe>
<pre id="result">pending</pre>
<script>
const out = document.getElementById('result');
document.getElementById('f').addEventListener('load', async () => {
  try {
    const doc = document.getElementById('f').contentDocument;
    const plots = [];
    for (const img of doc.querySelectorAll('img[data-plot]')) {
      let decoded = true;
      try { await img.decode(); } catch (e) { decoded = false; }
      const r = {src: img.getAttribute('src'), decoded, w: img.naturalWidth, h: img.naturalHeight,
                 inked: 0, colors: 0};
      if (decoded && img.naturalWidth > 0) {
        const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d');
        g.fillStyle = '#fff'; g.fillRect(0, 0, c.width, c.height);
        g.drawImage(img, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data;
        const seen = new Set();
        for (let i = 0; i < d.length; i += 4) {
          if (d[i] < 245 || d[i + 1] < 245 || d[i + 2] < 245) {
            r.inked++;
            seen.add((d[i] >> 4) << 8 | (d[i + 1] >> 4) << 4 | (d[i + 2] >> 4));
          }
        }
        r.colors = seen.size;
      }
      plots.push(r);
    }
    const rows = {};
    for (const tr of doc.querySelectorAll('table.results tr[data-id]')) {
      const cells = {};
      for (const td of tr.querySelectorAll('td[data-metric]')) {
        cells[td.dataset.metric] = {value: td.dataset.value, text: td.textContent};
      }
      rows[tr.dataset.id] = cells;
    }
    const history = doc.querySelectorAll('table.history').length;
    const latest = (doc.getElementById('latest-set') || {}).textContent;
    out.textContent = JSON.stringify({plots, rows, history, latest,
                                      title: doc.title});
  } catch (e) {
    out.textContent = 'error: ' + e;
  }
});
</script></body></html>
"""


def fail(msg, code=1):
    print(f"test_dashboard: {msg}", file=sys.stderr)
    sys.exit(code)


def chromium_flags(profile):
    return [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
            "--hide-scrollbars"]


def ensure_chromium():
    if os.path.exists(CHROMIUM):
        return
    if os.geteuid() != 0:
        fail(f"{CHROMIUM} is missing and installing it needs root", 2)
    print("test_dashboard: installing Debian's chromium", flush=True)
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if r.returncode != 0:
            fail(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}", 2)


def find_binary(arg):
    if arg:
        return pathlib.Path(arg)
    r = subprocess.run(["cargo", "build", "--release", "-q", "-p", "harness"], cwd=ROOT)
    if r.returncode != 0:
        fail("cargo build failed", 2)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    return target / "release" / "htab-mem"


def synthetic_cell(uc, flavor, p, k, mem_mib):
    samples = [{"t_ns": t * 1_000_000_000, "loops": int(1000 * k) * t,
                "mem_bytes": int(mem_mib * MIB * (0.5 + 0.1 * t)), "rss_bytes": 8 * 2**20}
               for t in range(1, 6)]
    m = lambda v, sd=None, unit="bytes": {"value": v, "unit": unit, **({"stddev": sd} if sd is not None else {})}
    return {"id": f"htab-mem/{uc}/{flavor}/p{p}", "use_case": uc, "flavor": flavor,
            "producers": p, "status": "ok", "samples": samples,
            "metrics": {"loops_per_sec": m(1234.567 * k * p, 10.0, "loops/s"),
                        "loops_per_sec_per_producer": m(1234.567 * k, 3.21 * k, "loops/s"),
                        "mem_avg": m(mem_mib * 0.8 * MIB, 1000.0), "mem_peak": m(mem_mib * MIB),
                        "rss_peak": m(mem_mib * MIB + 4e6)},
            "allocator": {"from_system": 10, "to_system": 10, "leaked": 0}}


def synthetic_sets(root):
    flavors = ["malloc-call-rcu", "immediate-reuse", "reuse-after-gp", "free-after-gp",
               "call-rcu-free"]
    for day, scale in (("2026-11-22", 0.8), ("2026-11-23", 1.0)):
        cells = []
        for uc in ("overwrite", "batch_add_batch_del"):
            for p in (2, 4):
                for i, f in enumerate(flavors):
                    mem = 0.27 if f == "immediate-reuse" else 10.0 * (i + 1) + p
                    cells.append(synthetic_cell(uc, f, p, scale * (1 + i + p / 10), mem))
        doc = {"schema_version": 1, "tool": "htab-mem 0.1.0", "git_sha": "0123456789ab",
               "timestamp": f"{day}T12:00:00Z",
               "host": {"cpu_model": "Synthetic CPU", "nr_cpus": 2, "kernel": "6.1.0",
                        "mem_total_bytes": 0},
               "config": {"warmup_s": 1, "duration_s": 4, "affinity": "0-1",
                          "max_entries": 8192, "value_size": 8, "rcu_gp_delay_us": 1000,
                          "ttrace_gp_delay_us": 10000},
               "results": cells}
        d = root / f"synthetic-2cpu-{day}"
        d.mkdir(parents=True)
        (d / "matrix.json").write_text(json.dumps(doc, indent=1))


def latest_cells(results):
    """The cells of the newest set, as the dashboard picks it (newest timestamp, then name)."""
    sets = []
    for d in sorted(p for p in results.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = []
        for f in sorted(d.glob("*.json")):
            try:
                doc = json.loads(f.read_text())
            except ValueError:
                continue
            if isinstance(doc, dict) and "schema_version" in doc:
                files.append(doc)
        if files:
            sets.append((max(f["timestamp"] for f in files), d.name, files))
    if not sets:
        fail(f"{results}: no result sets", 2)
    ts, name, files = max(sets)
    return name, [c for f in files for c in f["results"]]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(directory):
    handler = functools.partial(QuietHandler, directory=str(directory))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", help="htab-mem binary (default: cargo build --release)")
    ap.add_argument("--results", help="folder of result sets (default: synthetic)")
    ap.add_argument("--screenshot", help="also write a PNG of the dashboard here")
    a = ap.parse_args()
    t0 = time.monotonic()
    ensure_chromium()
    binary = find_binary(a.bin)
    work = pathlib.Path(tempfile.mkdtemp(prefix="htab-mem-dash-"))
    try:
        if a.results:
            results = pathlib.Path(a.results).resolve()
        else:
            results = work / "results"
            synthetic_sets(results)
        site = work / "site"
        r = subprocess.run([str(binary), "dashboard", "--results", str(results),
                            "--out", str(site)], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"htab-mem dashboard failed: {r.stderr.strip()}")
        (site / "__check.html").write_text(CHECK_PAGE)
        srv = serve(site)
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        try:
            r = subprocess.run(chromium_flags(work / "profile") + [
                "--virtual-time-budget=20000", "--dump-dom", f"{base}/__check.html"],
                capture_output=True, text=True, timeout=90)
            if a.screenshot:
                subprocess.run(chromium_flags(work / "profile2") + [
                    "--window-size=1280,2400", f"--screenshot={a.screenshot}",
                    f"{base}/index.html"], capture_output=True, timeout=90)
        finally:
            srv.shutdown()
        m = re.search(r'<pre id="result">(.*?)</pre>', r.stdout, re.S)
        if not m:
            fail(f"chromium gave no result (status {r.returncode}): {r.stderr.strip()[-800:]}")
        raw = html.unescape(m.group(1))
        if not raw.startswith("{"):
            fail(f"the check page says: {raw[:500]}")
        got = json.loads(raw)
        name, cells = latest_cells(results)
        failures = check(got, name, cells, site)
        checks = 3
        elapsed = time.monotonic() - t0
        for f in failures:
            print(f"FAIL {f}", file=sys.stderr)
        print(f"test_dashboard: {len(got['plots'])} plots, {len(got['rows'])} table rows, "
              f"{got['history']} history tables checked in Chromium ({elapsed:.1f} s)")
        bad = 1 if failures else 0
        print(f"dashboard: {checks - bad} passed, {bad} failed")
        return 1 if failures else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check(got, set_name, cells, site):
    """The reasons the page is wrong; empty when it is right."""
    bad = []
    if got["latest"] != set_name:
        bad.append(f"latest set shown is {got['latest']!r}, expected {set_name!r}")
    svgs = sorted(p.name for p in site.glob("*.svg"))
    srcs = sorted(p["src"] for p in got["plots"])
    if not srcs or srcs != svgs:
        bad.append(f"page shows {srcs}, folder holds {svgs}")
    for p in got["plots"]:
        # A rendered plot: decoded, and ink in several colours (axes, text, series).
        if not p["decoded"] or p["w"] < 100 or p["h"] < 100:
            bad.append(f"plot {p['src']} did not load ({p})")
        elif p["inked"] < 0.01 * p["w"] * p["h"] or p["colors"] < 4:
            bad.append(f"plot {p['src']} is blank ({p['inked']} inked pixels, "
                       f"{p['colors']} colours)")
    for c in cells:
        row = got["rows"].get(c["id"])
        if row is None:
            bad.append(f"no table row for {c['id']}")
            continue
        if c["status"] == "error":
            continue
        for metric, scale in METRICS.items():
            want = c["metrics"][metric]
            td = row.get(metric)
            if td is None:
                bad.append(f"{c['id']}: no {metric} column")
                continue
            v = float(td["value"])
            if abs(v - want["value"]) > 1e-12 * max(abs(v), abs(want["value"])):
                bad.append(f"{c['id']} {metric}: page value {v}, file {want['value']}")
            text = f"{want['value'] / scale:.2f}"
            if metric == "loops_per_sec_per_producer" and want.get("stddev") is not None:
                text += f" ± {want['stddev'] / scale:.2f}"
            if td["text"] != text:
                bad.append(f"{c['id']} {metric}: page shows {td['text']!r}, file gives {text!r}")
        leaked = row.get("leaked", {}).get("value")
        if leaked != str(c["allocator"]["leaked"]):
            bad.append(f"{c['id']} leaked: page {leaked}, file {c['allocator']['leaked']}")
    if got["history"] < 1:
        bad.append("no history table")
    return bad


if __name__ == "__main__":
    sys.exit(main())
