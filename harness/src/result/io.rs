//! Reading and writing result files: checked, atomic, every error naming the file.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use super::{ResultFile, SCHEMA_VERSION};

/// Checks, before anything runs, that an output file can be written where `flag` says: its
/// directory exists and it is not a directory itself.
pub fn check_output_path(flag: &str, path: &Path) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(format!(
            "{flag} {}: directory {} does not exist",
            path.display(),
            dir.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("{flag} {}: is a directory", path.display()));
    }
    Ok(())
}

/// Writes `file` as pretty JSON with [`write_bytes_atomic`].
pub fn write_atomic(path: &Path, file: &ResultFile) -> Result<(), String> {
    let mut json = serde_json::to_vec_pretty(file)
        .map_err(|e| format!("{}: cannot serialise results: {e}", path.display()))?;
    json.push(b'\n');
    write_bytes_atomic(path, &json, "results")
}

/// Writes `bytes` via a temp file in the same directory, fsynced and renamed over `path`, so
/// readers see the old file or the new one, never a half-written one. Errors name the file
/// and, when given, `what` was being written ("cannot write results: ...").
pub fn write_bytes_atomic(path: &Path, bytes: &[u8], what: &str) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file path", path.display()))?
        .to_string_lossy();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" {what}")
        };
        return Err(format!("{}: cannot write{what}: {e}", path.display()));
    }
    // Persist the rename itself; best effort, not every filesystem allows it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads and validates a result file; every error names the file.
pub fn read_result_file(path: &Path) -> Result<ResultFile, String> {
    let p = path.display();
    let text = fs::read_to_string(path).map_err(|e| format!("{p}: cannot read: {e}"))?;
    if text.trim().is_empty() {
        return Err(format!("{p}: file is empty"));
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        if e.is_eof() {
            format!("{p}: truncated JSON (ends at line {}): {e}", e.line())
        } else {
            format!("{p}: not JSON: {e}")
        }
    })?;
    // Check the version before the shape, so a newer file gets the useful message.
    let version = value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| {
            format!("{p}: not an htab-mem result file (no numeric \"schema_version\")")
        })?;
    // Version 1 differs only by lacking `benchmark`, which defaults to htab-mem.
    if version > u64::from(SCHEMA_VERSION) {
        return Err(format!(
            "{p}: schema_version {version} is newer than this tool supports ({SCHEMA_VERSION}); \
             use a newer htab-mem"
        ));
    }
    if version == 0 {
        return Err(format!("{p}: invalid schema_version 0"));
    }
    serde_json::from_value(value)
        .map_err(|e| format!("{p}: not an htab-mem result file (schema {version}): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::tests::sample_file;

    #[test]
    fn reads_the_documented_example() {
        // A version 1 file (the schema docs' example before version 2): integer metric
        // values, no cached/waiting_gp.
        let text = r#"{"schema_version": 1, "tool": "htab-mem 0.1.0", "git_sha": "...", "timestamp": "2026-11-23T12:00:00Z",
 "host": {"cpu_model": "...", "nr_cpus": 2, "kernel": "...", "mem_total_bytes": 0},
 "config": {"warmup_s": 1, "duration_s": 5, "affinity": "0-1", "max_entries": 8192, "value_size": 8, "use_case": "overwrite", "producers": 16, "rcu_gp_delay_us": 1000, "ttrace_gp_delay_us": 10000},
 "results": [{"id": "htab-mem/overwrite/reuse-after-gp/p16", "use_case": "overwrite",
   "flavor": "reuse-after-gp", "producers": 16, "status": "ok",
   "samples": [{"t_ns": 1000000000, "loops": 16370, "mem_bytes": 25176309, "rss_bytes": 30000000}],
   "metrics": {"loops_per_sec": {"value": 16370.0, "stddev": 270.0, "unit": "loops/s"},
     "loops_per_sec_per_producer": {"value": 1023.1, "stddev": 16.9, "unit": "loops/s"},
     "mem_avg": {"value": 25176309, "stddev": 1200000, "unit": "bytes"},
     "mem_peak": {"value": 33302118, "unit": "bytes"}, "rss_peak": {"value": 40000000, "unit": "bytes"}},
   "allocator": {"from_system": 0, "to_system": 0, "leaked": 0}}]}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.json");
        fs::write(&path, text).unwrap();
        // A version 1 file: htab-mem's, though it does not say so.
        let mut want = sample_file();
        want.schema_version = 1;
        want.git_sha = "...".into();
        want.timestamp = "2026-11-23T12:00:00Z".into();
        want.host.cpu_model = "...".into();
        want.host.kernel = "...".into();
        // Written before --rcu-readers: the only model then.
        want.config.rcu_readers = "preemptible".into();
        // And before --memalloc: today's generation, the only one then.
        assert_eq!(want.config.memalloc, "current");
        assert_eq!(read_result_file(&path).unwrap(), want);
    }

    #[test]
    fn atomic_write_round_trips_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        fs::write(&path, "old contents").unwrap();
        let f = sample_file();
        write_atomic(&path, &f).unwrap();
        assert_eq!(read_result_file(&path).unwrap(), f);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["out.json"]);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"schema_version\": 2,"), "{text}");
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn atomic_write_failure_is_reported_and_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        // Renaming a file over a non-empty directory fails.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("x"), "").unwrap();
        let e = write_atomic(&target, &sample_file()).unwrap_err();
        assert!(e.contains("taken") && e.contains("cannot write"), "{e}");
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["taken"]);

        let e = write_atomic(&dir.path().join("no/such/dir/out.json"), &sample_file()).unwrap_err();
        assert!(e.contains("out.json"), "{e}");
    }

    fn read_err(tag: &str, contents: &str) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("{tag}.json"));
        fs::write(&path, contents).unwrap();
        (
            read_result_file(&path).unwrap_err(),
            path.display().to_string(),
        )
    }

    #[test]
    fn read_missing_file() {
        let e = read_result_file(Path::new("/nonexistent/htab-mem.json")).unwrap_err();
        assert!(
            e.starts_with("/nonexistent/htab-mem.json: cannot read:"),
            "{e}"
        );
    }

    #[test]
    fn read_empty_file() {
        for (tag, s) in [("empty", ""), ("blank", " \n\t\n")] {
            let (e, p) = read_err(tag, s);
            assert_eq!(e, format!("{p}: file is empty"));
        }
    }

    #[test]
    fn read_truncated_file() {
        let full = serde_json::to_string_pretty(&sample_file()).unwrap();
        let (e, p) = read_err("truncated", &full[..full.len() / 2]);
        assert!(e.starts_with(&format!("{p}: truncated JSON")), "{e}");
    }

    #[test]
    fn read_not_json() {
        let (e, p) = read_err("notjson", "Iter   1 (  0.123us): per-prod-op");
        assert!(e.starts_with(&format!("{p}: not JSON:")), "{e}");
    }

    #[test]
    fn read_not_our_schema() {
        for (tag, s) in [
            ("array", "[1, 2]"),
            ("other", r#"{"benchmarks": []}"#),
            ("strver", r#"{"schema_version": "1"}"#),
        ] {
            let (e, p) = read_err(tag, s);
            assert_eq!(
                e,
                format!("{p}: not an htab-mem result file (no numeric \"schema_version\")")
            );
        }
        // Right version, wrong shape.
        let (e, p) = read_err("shape", r#"{"schema_version": 1, "tool": "x"}"#);
        assert!(
            e.starts_with(&format!("{p}: not an htab-mem result file (schema 1):")),
            "{e}"
        );
        let (e, p) = read_err("zero", r#"{"schema_version": 0}"#);
        assert_eq!(e, format!("{p}: invalid schema_version 0"));
    }

    #[test]
    fn read_newer_schema() {
        let (e, p) = read_err("newer", r#"{"schema_version": 3, "whatever": true}"#);
        assert_eq!(
            e,
            format!(
                "{p}: schema_version 3 is newer than this tool supports (2); use a newer htab-mem"
            )
        );
    }
}
