//! What a file records of when and what was measured: the UTC time and the commit.

use std::time::{SystemTime, UNIX_EPOCH};

/// Current UTC time as RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_timestamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_utc(secs)
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil (proleptic Gregorian), for days >= 0.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // shift epoch to 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Commit being measured: `$GITHUB_SHA` (first 12 chars) if set, else
/// `git rev-parse --short=12 HEAD` in the current directory, else "unknown".
pub fn git_sha() -> String {
    git_sha_from(std::env::var("GITHUB_SHA").ok())
}

fn git_sha_from(env_sha: Option<String>) -> String {
    if let Some(s) = env_sha.map(|s| s.trim().to_string()) {
        if !s.is_empty() {
            return s.chars().take(12).collect();
        }
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(format_utc(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(format_utc(1_735_689_599), "2024-12-31T23:59:59Z");
    }

    #[test]
    fn utc_timestamp_shape() {
        let t = utc_timestamp();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z') && &t[10..11] == "T", "{t}");
        assert!(t.as_str() >= "2024-01-01T00:00:00Z", "{t}");
    }

    #[test]
    fn git_sha_sources() {
        assert_eq!(
            git_sha_from(Some("0123456789abcdef0123456789abcdef01234567".into())),
            "0123456789ab"
        );
        // Empty env falls through to git, which gives a short hash or "unknown".
        let s = git_sha_from(Some("  ".into()));
        assert!(
            s == "unknown" || (s.len() >= 12 && s.bytes().all(|b| b.is_ascii_hexdigit())),
            "{s}"
        );
    }
}
