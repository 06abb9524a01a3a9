//! The documentation stays true to the repository: every relative link in README.md and
//! docs/*.md resolves to a file inside the repository (and a `#anchor` to a heading of the
//! target), and the README's flavor and use-case lists name exactly the registries'
//! entries (`allocators::FLAVORS`, `workloads::USE_CASES`, `workloads::PEERS`).

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The repository root (the workspace, one above this crate).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness has a parent directory")
        .to_path_buf()
}

/// README.md and every docs/*.md, as paths relative to the root.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/ is readable")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .map(|p| p.strip_prefix(root).expect("under root").to_path_buf())
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The lines of a markdown file that are prose: fenced code blocks and indented code blocks
/// are blanked (kept as empty lines, so line numbers still match), inline code spans removed.
fn prose_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut fence: Option<&str> = None;
    let mut prev_blank = true;
    let mut in_indented = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            if trimmed.starts_with(f) {
                fence = None;
            }
            out.push(String::new());
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
            out.push(String::new());
            prev_blank = false;
            continue;
        }
        let indented = line.starts_with("    ") || line.starts_with('\t');
        if indented && (prev_blank || in_indented) {
            in_indented = true;
            out.push(String::new());
            continue;
        }
        in_indented = false;
        prev_blank = line.trim().is_empty();
        out.push(strip_code_spans(line));
    }
    out
}

/// `line` without its inline code spans (`` `...` ``).
fn strip_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let closing = "`".repeat(ticks);
        match after.find(&closing) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                // An unclosed backtick is literal text.
                out.push_str(&rest[start..start + ticks]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The link targets of one prose line: inline links and images `[x](target "title")`, and
/// reference definitions `[x]: target`.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        // `[label]: target`: the first `]` is followed by `:`.
        if let Some(close) = trimmed.find(']') {
            if let Some(def) = trimmed[close + 1..].strip_prefix(':') {
                if let Some(t) = def.split_whitespace().next() {
                    targets.push(t.trim_matches(|c| c == '<' || c == '>').to_string());
                }
                return targets;
            }
        }
    }
    let mut rest = line;
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        // Up to the matching parenthesis (targets may hold balanced parentheses).
        let mut depth = 0usize;
        let mut end = None;
        for (j, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => {
                    end = Some(j);
                    break;
                }
                ')' => depth -= 1,
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let inner = after[..end].trim();
        let target = if let Some(stripped) = inner.strip_prefix('<') {
            stripped.split('>').next().unwrap_or("")
        } else {
            inner.split_whitespace().next().unwrap_or("")
        };
        targets.push(target.to_string());
        rest = &after[end + 1..];
    }
    targets
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens; the
/// n-th repeat of an anchor gets `-n`.
fn heading_anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = BTreeSet::new();
    let raw_lines: Vec<&str> = text.lines().collect();
    for (i, line) in prose_lines(text).iter().enumerate() {
        if !line.starts_with('#') {
            continue;
        }
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        // Code spans count in anchors: slug the raw heading line, not the stripped one.
        let title = raw_lines[i][hashes..].trim();
        let slug: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        let anchor = if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        };
        *n += 1;
        anchors.insert(anchor);
    }
    anchors
}

/// `base/rel` with `.` and `..` folded, or None when it climbs above the root.
fn resolve(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut parts: Vec<Component> = base.components().collect();
    for c in Path::new(rel).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(_) => parts.push(c),
            // An absolute path points outside the repository.
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

fn is_external(target: &str) -> bool {
    let t = target.to_ascii_lowercase();
    t.starts_with("http://") || t.starts_with("https://") || t.starts_with("mailto:")
}

/// Every broken relative link of the markdown file `file` (relative to `root`), as
/// "file:line: target: why".
fn broken_links(root: &Path, file: &Path, text: &str) -> Vec<String> {
    let dir = file.parent().unwrap_or(Path::new(""));
    let mut broken = Vec::new();
    for (n, line) in prose_lines(text).iter().enumerate() {
        for target in link_targets(line) {
            if is_external(&target) {
                continue;
            }
            let at = format!("{}:{}: {target}", file.display(), n + 1);
            if target.is_empty() {
                broken.push(format!("{at}: empty link"));
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let rel = if path.is_empty() {
                file.to_path_buf()
            } else {
                match resolve(dir, path) {
                    Some(r) => r,
                    None => {
                        broken.push(format!("{at}: points outside the repository"));
                        continue;
                    }
                }
            };
            let full = root.join(&rel);
            // A bare `#anchor` is in the file being read, which exists.
            if !path.is_empty() && !full.exists() {
                broken.push(format!("{at}: {} does not exist", rel.display()));
                continue;
            }
            if let Some(anchor) = anchor {
                if rel.extension().is_some_and(|x| x == "md") {
                    let target_text = if rel == file {
                        text.to_string()
                    } else {
                        fs::read_to_string(&full).unwrap_or_default()
                    };
                    if !heading_anchors(&target_text).contains(anchor) {
                        broken.push(format!(
                            "{at}: no heading with anchor #{anchor} in {}",
                            rel.display()
                        ));
                    }
                }
            }
        }
    }
    broken
}

#[test]
fn every_relative_link_in_readme_and_docs_resolves() {
    let root = repo_root();
    let files = doc_files(&root);
    assert!(files.len() > 5, "found only {files:?}");
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = fs::read_to_string(root.join(file)).expect("readable markdown");
        checked += prose_lines(&text)
            .iter()
            .map(|l| link_targets(l).len())
            .sum::<usize>();
        broken.extend(broken_links(&root, file, &text));
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The names of a README section's bullet list: `- \`name\`: ...` lines under the heading
/// that starts with `heading`, up to the next `## ` heading.
fn listed_names(readme: &str, heading: &str) -> Vec<String> {
    let mut in_section = false;
    let mut names = Vec::new();
    for line in prose_lines_keep_code(readme) {
        if line.starts_with("## ") {
            in_section = line.starts_with(heading);
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some(item) = line.strip_prefix("- `") {
            if let Some(end) = item.find('`') {
                names.push(item[..end].to_string());
            }
        }
    }
    names
}

/// The lines outside fenced code blocks, code spans kept (the lists name entries in them).
fn prose_lines_keep_code(text: &str) -> Vec<&str> {
    let mut fence = false;
    text.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fence = !fence;
                return false;
            }
            !fence
        })
        .collect()
}

/// What is wrong with a listed set of names against a registry: missing entries, entries
/// the registry does not have, repeats.
fn list_problems(what: &str, listed: &[String], registry: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    for r in registry {
        if !listed.iter().any(|l| l == r) {
            problems.push(format!("{what}: `{r}` is not listed"));
        }
    }
    let mut seen = BTreeSet::new();
    for l in listed {
        if !registry.contains(&l.as_str()) {
            problems.push(format!(
                "{what}: `{l}` is listed but is not a registered name"
            ));
        }
        if !seen.insert(l) {
            problems.push(format!("{what}: `{l}` is listed twice"));
        }
    }
    problems
}

#[test]
fn readme_lists_every_flavor_and_use_case_and_nothing_else() {
    let readme = fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let flavors = listed_names(&readme, "## The flavors");
    let use_cases = listed_names(&readme, "## The use cases");
    let peers = listed_names(&readme, "## The peer maps");
    let mut problems = list_problems("README flavors", &flavors, allocators::FLAVORS);
    problems.extend(list_problems("README peer maps", &peers, workloads::PEERS));
    problems.extend(list_problems(
        "README use cases",
        &use_cases,
        workloads::USE_CASES,
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// The checks above must be able to fail: the same functions on documents that are wrong.

#[test]
fn a_missing_file_an_unknown_anchor_and_an_escape_are_reported() {
    let root = repo_root();
    let text = "\
# Title

See [ok](../README.md), [self](#title), [img](../results/dashboard.png),
[web](https://example.org/x.md) and [mail](mailto:a@b).
[gone](no-such-file.md) and [bad anchor](../README.md#no-such-heading),
[out](../../elsewhere.md), [ref]: not-there.md
";
    let file = Path::new("docs/example.md");
    let broken = broken_links(&root, file, text);
    assert_eq!(broken.len(), 3, "{broken:#?}");
    assert!(
        broken[0].contains("no-such-file.md does not exist"),
        "{broken:#?}"
    );
    assert!(broken[1].contains("#no-such-heading"), "{broken:#?}");
    assert!(
        broken[2].contains("points outside the repository"),
        "{broken:#?}"
    );
    // A reference definition on its own line is checked too.
    let broken = broken_links(&root, file, "[ref]: not-there.md\n");
    assert_eq!(broken.len(), 1, "{broken:#?}");
}

#[test]
fn links_in_code_are_not_links() {
    let root = repo_root();
    let text = "\
Text.

    [indented](missing-1.md)

```
[fenced](missing-2.md)
```

A `[span](missing-3.md)` in prose.
";
    assert!(broken_links(&root, Path::new("README.md"), text).is_empty());
}

#[test]
fn anchors_follow_github() {
    let a = heading_anchors(
        "# The flavors (`-A`, default `all`)\n## Seed 000: immediate reuse\n## Twice\n## Twice\n",
    );
    for want in [
        "the-flavors--a-default-all",
        "seed-000-immediate-reuse",
        "twice",
        "twice-1",
    ] {
        assert!(a.contains(want), "{want} not in {a:?}");
    }
}

#[test]
fn a_list_missing_an_entry_or_naming_an_extra_one_fails() {
    let readme = "\
## The flavors (`-A`)

- `a`: one.
- `b`: two.
- `zz`: not registered.
- `b`: again.

## Next

- `c`: outside the section.
";
    let listed = listed_names(readme, "## The flavors");
    assert_eq!(listed, ["a", "b", "zz", "b"]);
    let problems = list_problems("flavors", &listed, &["a", "b", "c"]);
    assert_eq!(
        problems,
        [
            "flavors: `c` is not listed",
            "flavors: `zz` is listed but is not a registered name",
            "flavors: `b` is listed twice",
        ]
    );
}
