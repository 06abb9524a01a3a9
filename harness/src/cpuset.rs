//! The kernel bench's CPUSET syntax (`0,2,4-7`) for `--prod-affinity`.

/// Parses a CPU list such as `0,2,4-7` into CPU ids in the order written
/// (ranges expand ascending). Rejects empty input, whitespace, empty
/// elements, descending ranges, duplicates, and CPUs not in `online`.
pub fn parse_cpuset(s: &str, online: &[usize]) -> Result<Vec<usize>, String> {
    if s.is_empty() {
        return Err("empty CPU set in --prod-affinity".to_string());
    }
    if s.chars().any(char::is_whitespace) {
        return Err(format!(
            "invalid CPU set '{s}' in --prod-affinity: whitespace is not allowed"
        ));
    }
    // Syntax first, so a typo is reported as such rather than as a missing CPU.
    let mut ranges = Vec::new();
    for elem in s.split(',') {
        let (a, b) = match elem.split_once('-') {
            Some((a, b)) => (parse_cpu(s, a)?, parse_cpu(s, b)?),
            None => {
                let c = parse_cpu(s, elem)?;
                (c, c)
            }
        };
        if a > b {
            return Err(format!(
                "invalid CPU set '{s}' in --prod-affinity: range {a}-{b} is descending"
            ));
        }
        ranges.push((a, b));
    }
    let mut out = Vec::new();
    for (a, b) in ranges {
        // Each CPU is checked against `online` before it is added, so even a
        // huge range stops after at most online.len() + 1 steps.
        for c in a..=b {
            if !online.contains(&c) {
                return Err(format!(
                    "CPU {c} in --prod-affinity does not exist (online CPUs: {})",
                    format_cpuset(online)
                ));
            }
            if out.contains(&c) {
                return Err(format!(
                    "invalid CPU set '{s}' in --prod-affinity: CPU {c} is listed twice"
                ));
            }
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_cpu(whole: &str, t: &str) -> Result<usize, String> {
    if t.is_empty() {
        return Err(format!(
            "invalid CPU set '{whole}' in --prod-affinity: empty element"
        ));
    }
    // `usize::from_str` accepts a leading '+'; the kernel syntax is digits only.
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "invalid CPU set '{whole}' in --prod-affinity: '{t}' is not a CPU number"
        ));
    }
    t.parse().map_err(|_| {
        format!("invalid CPU set '{whole}' in --prod-affinity: CPU number '{t}' is too large")
    })
}

/// Formats CPU ids compactly, merging ascending consecutive runs into
/// ranges: `[0, 1, 2, 3, 6]` -> `0-3,6`. Order is kept as given, so
/// `format_cpuset(&parse_cpuset(s)?)` describes the same pinning order.
pub fn format_cpuset(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j].checked_add(1) == Some(cpus[j + 1]) {
            j += 1;
        }
        if j == i {
            parts.push(start.to_string());
        } else {
            parts.push(format!("{start}-{}", cpus[j]));
        }
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EIGHT: [usize; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

    #[test]
    fn parses_lists_and_ranges_in_written_order() {
        assert_eq!(parse_cpuset("0,2,4-7", &EIGHT), Ok(vec![0, 2, 4, 5, 6, 7]));
        assert_eq!(parse_cpuset("5,1", &EIGHT), Ok(vec![5, 1]));
        assert_eq!(parse_cpuset("6-7,0-1", &EIGHT), Ok(vec![6, 7, 0, 1]));
        assert_eq!(parse_cpuset("3-3", &EIGHT), Ok(vec![3]));
        assert_eq!(parse_cpuset("007", &EIGHT), Ok(vec![7]));
    }

    #[test]
    fn checks_against_sparse_online_set() {
        let online = [0, 2, 4];
        assert_eq!(parse_cpuset("4,0", &online), Ok(vec![4, 0]));
        assert_eq!(
            parse_cpuset("0-2", &online).unwrap_err(),
            "CPU 1 in --prod-affinity does not exist (online CPUs: 0,2,4)"
        );
    }

    #[test]
    fn rejects_missing_cpu_with_online_list() {
        assert_eq!(
            parse_cpuset("9", &[0, 1]).unwrap_err(),
            "CPU 9 in --prod-affinity does not exist (online CPUs: 0-1)"
        );
        assert_eq!(
            parse_cpuset("0,1-3", &[0, 1]).unwrap_err(),
            "CPU 2 in --prod-affinity does not exist (online CPUs: 0-1)"
        );
        // A huge range fails fast instead of expanding.
        let big = format!("0-{}", usize::MAX);
        assert_eq!(
            parse_cpuset(&big, &[0, 1]).unwrap_err(),
            "CPU 2 in --prod-affinity does not exist (online CPUs: 0-1)"
        );
    }

    #[test]
    fn rejects_empty() {
        assert_eq!(
            parse_cpuset("", &EIGHT).unwrap_err(),
            "empty CPU set in --prod-affinity"
        );
    }

    #[test]
    fn rejects_empty_elements() {
        for s in [",", "0,", ",0", "0,,1", "-1", "1-", "-"] {
            let e = parse_cpuset(s, &EIGHT).unwrap_err();
            assert!(e.ends_with("empty element"), "{s}: {e}");
        }
    }

    #[test]
    fn rejects_whitespace() {
        for s in [" 0", "0 ", "0, 1", "0\t", "0-\n1"] {
            let e = parse_cpuset(s, &EIGHT).unwrap_err();
            assert!(e.ends_with("whitespace is not allowed"), "{s:?}: {e}");
        }
    }

    #[test]
    fn rejects_non_numbers() {
        for (s, bad) in [
            ("a", "a"),
            ("+1", "+1"),
            ("0x1", "0x1"),
            ("1-2-3", "2-3"),
            ("1.5", "1.5"),
            ("0;1", "0;1"),
        ] {
            assert_eq!(
                parse_cpuset(s, &EIGHT).unwrap_err(),
                format!("invalid CPU set '{s}' in --prod-affinity: '{bad}' is not a CPU number")
            );
        }
    }

    #[test]
    fn rejects_too_large_number() {
        let e = parse_cpuset("99999999999999999999999", &EIGHT).unwrap_err();
        assert!(e.ends_with("is too large"), "{e}");
    }

    #[test]
    fn rejects_descending_range() {
        assert_eq!(
            parse_cpuset("7-4", &EIGHT).unwrap_err(),
            "invalid CPU set '7-4' in --prod-affinity: range 7-4 is descending"
        );
    }

    #[test]
    fn rejects_duplicates() {
        for s in ["1,1", "0-3,2", "2,0-3", "0-2,1-3"] {
            let e = parse_cpuset(s, &EIGHT).unwrap_err();
            assert!(e.ends_with("is listed twice"), "{s}: {e}");
        }
        assert_eq!(
            parse_cpuset("4,4", &EIGHT).unwrap_err(),
            "invalid CPU set '4,4' in --prod-affinity: CPU 4 is listed twice"
        );
    }

    #[test]
    fn formats_ranges() {
        assert_eq!(format_cpuset(&[]), "");
        assert_eq!(format_cpuset(&[3]), "3");
        assert_eq!(format_cpuset(&[0, 1]), "0-1");
        assert_eq!(format_cpuset(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(format_cpuset(&[0, 2, 4, 5, 6, 7]), "0,2,4-7");
        assert_eq!(format_cpuset(&[6, 7, 0, 1]), "6-7,0-1");
        assert_eq!(format_cpuset(&[3, 2, 1]), "3,2,1");
        assert_eq!(format_cpuset(&[usize::MAX, 0]), format!("{},0", usize::MAX));
    }

    #[test]
    fn format_parse_round_trip() {
        for s in ["0-7", "0,2,4-7", "6-7,0-1", "5,3"] {
            assert_eq!(format_cpuset(&parse_cpuset(s, &EIGHT).unwrap()), s);
        }
    }
}
