//! The rows a run or an htab-mem matrix measures: the allocator flavors and the peer maps
//! (`peer:NAME`, workloads/src/peers/), chosen by one list, `-A`. A peer map's row is named
//! `peer:NAME` everywhere a flavor's name goes (tables, cell ids, plots), so it never reads
//! as a flavor.

use workloads::peers::{is_peer, PEERS};

/// `-A`'s default: every flavor, and dashmap to compare them with.
pub const DEFAULT: &str = "all,peer:dashmap";

/// What `-A` takes, for messages.
pub const HELP: &str = "all (every flavor), peers (every peer map), a flavor or peer:NAME";

/// Every row name, flavors then peers, in the order tables list them.
pub fn known() -> impl Iterator<Item = &'static str> {
    allocators::FLAVORS.iter().chain(PEERS).copied()
}

/// A row's place in tables: the flavors', then the peers', then unknown names.
pub fn rank(name: &str) -> usize {
    known().position(|k| k == name).unwrap_or(usize::MAX)
}

/// `-A`'s list: `all` (every flavor), `peers` (every peer map), flavor names and
/// `peer:NAME`, comma-separated, in the order given (a name once).
pub fn parse(opt: &str, value: &str) -> Result<Vec<String>, String> {
    let mut v: Vec<String> = Vec::new();
    for n in crate::cli::split_list(value) {
        let names: Vec<&str> = match n.as_str() {
            "all" => allocators::FLAVORS.to_vec(),
            "peers" => PEERS.to_vec(),
            name if known().any(|k| k == name) => vec![known().find(|k| *k == name).unwrap()],
            name if is_peer(name) => {
                return Err(format!(
                    "{opt}: unknown peer map '{name}' (known: {})",
                    PEERS.join(", ")
                ))
            }
            name => {
                return Err(format!(
                    "{opt}: unknown allocator flavor '{name}' (known: {}; peer maps: {}; or \
                     all, peers)",
                    allocators::FLAVORS.join(", "),
                    PEERS.join(", ")
                ))
            }
        };
        for name in names {
            if !v.iter().any(|x| x == name) {
                v.push(name.to_string());
            }
        }
    }
    if v.is_empty() {
        return Err(format!("{opt}: names no flavor or peer map"));
    }
    Ok(v)
}

/// The flavors of `-A` for a benchmark that has no peer rows (map-perf-test, kfree-rcu, a
/// sweep's pacings): the default's peers are left out, a named peer is an error.
pub fn flavors_only(opt: &str, value: &str, what: &str) -> Result<Vec<String>, String> {
    let v = parse(opt, value)?;
    if value != DEFAULT {
        if let Some(p) = v.iter().find(|n| is_peer(n)) {
            return Err(format!(
                "{opt}: {p} is a peer map: {what} runs allocator flavors only"
            ));
        }
    }
    Ok(v.into_iter().filter(|n| !is_peer(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_takes_flavors_peers_and_both_keywords() {
        let d = parse("-A", DEFAULT).unwrap();
        assert_eq!(d.len(), allocators::FLAVORS.len() + 1);
        assert_eq!(d.last().unwrap(), "peer:dashmap");
        assert_eq!(parse("-A", "peers").unwrap(), PEERS);
        assert_eq!(
            parse("-A", "prealloc,peer:scc,prealloc").unwrap(),
            ["prealloc", "peer:scc"]
        );
        assert!(parse("-A", "peer:nope")
            .unwrap_err()
            .contains("unknown peer map"));
        assert!(parse("-A", "nope")
            .unwrap_err()
            .contains("unknown allocator flavor"));
        assert!(rank("peer:dashmap") > rank("prealloc"));
        assert_eq!(
            flavors_only("-A", DEFAULT, "x").unwrap(),
            allocators::FLAVORS
        );
        assert!(flavors_only("-A", "peer:scc", "x").is_err());
    }
}
