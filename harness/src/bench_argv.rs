//! bench.c's command line beside ours (`bench [common options] htab-mem [its options]`), and
//! the error for a word that names no benchmark or subcommand.

use std::ffi::OsString;

use allocators::Allocator;
use clap::CommandFactory;

use crate::cli::Cli;

/// bench.c's command line: `bench [common options] htab-mem [its options]`, as the kernel's
/// `run_bench_htab_mem.sh` calls it with `RUN_BENCH="./bench -w3 -d10 -a"`. The benchmark's
/// name, where bench.c takes it (the first argument that is neither an option nor an
/// option's value), is dropped, and since the kernel's bench runs one map per invocation,
/// such a run measures the kernel's default map (immediate-reuse, or prealloc with
/// `--preallocated`) unless `-A` says otherwise. Any other command line is returned as it is.
pub fn bench_argv(args: Vec<OsString>) -> Vec<OsString> {
    let Some((at, name)) = first_positional(&args) else {
        return args;
    };
    if name != "htab-mem" {
        return args;
    }
    let mut out = args;
    out.remove(at);
    let chooses = out.iter().filter_map(|a| a.to_str()).any(|a| {
        a.starts_with("-A")
            || a == "--allocator"
            || a.starts_with("--allocator=")
            || a == "--preallocated"
    });
    if !chooses {
        out.push("-A".into());
        out.push(allocators::ImmediateReuse::NAME.into());
    }
    out
}

/// The first argument that is neither an option nor an option's value (where bench.c takes
/// the benchmark's name and clap a subcommand), with its index.
pub fn first_positional(args: &[OsString]) -> Option<(usize, String)> {
    let cmd = Cli::command();
    let takes_value = |tok: &str| {
        cmd.get_arguments().any(|a| {
            a.get_action().takes_values()
                && (tok
                    .strip_prefix("--")
                    .is_some_and(|l| a.get_long() == Some(l))
                    || tok
                        .strip_prefix('-')
                        .and_then(|s| s.chars().next().filter(|_| s.len() == 1))
                        .is_some_and(|c| a.get_short() == Some(c)))
        })
    };
    let mut i = 1;
    while i < args.len() {
        let tok = args[i].to_str()?;
        if tok == "--" {
            return None;
        }
        if tok.starts_with('-') && tok != "-" {
            i += if takes_value(tok) { 2 } else { 1 };
            continue;
        }
        return Some((i, tok.to_string()));
    }
    None
}

/// The benchmark names and subcommands a command line may name, for error messages.
pub fn known_commands() -> Vec<String> {
    std::iter::once("htab-mem".to_string())
        .chain(
            Cli::command()
                .get_subcommands()
                .map(|c| c.get_name().to_string()),
        )
        .filter(|n| n != "help")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn the_name_is_found_past_options_and_their_values() {
        for line in [
            "bin -w3 -d10 -a htab-mem --use-case x",
            "bin -w 3 -d 10 -a htab-mem",
            "bin --warmup=3 htab-mem",
        ] {
            let (at, name) = first_positional(&argv(line)).unwrap();
            assert_eq!(name, "htab-mem", "{line}");
            assert_eq!(argv(line)[at], "htab-mem");
        }
        assert_eq!(first_positional(&argv("bin -w 3 -- htab-mem")), None);
    }

    #[test]
    fn a_bench_line_measures_one_map() {
        let out = bench_argv(argv("bin -w3 -a htab-mem --use-case overwrite -p8"));
        assert_eq!(
            out,
            argv("bin -w3 -a --use-case overwrite -p8 -A immediate-reuse")
        );
        let out = bench_argv(argv("bin -w3 htab-mem --preallocated"));
        assert_eq!(out, argv("bin -w3 --preallocated"));
        let out = bench_argv(argv("bin htab-mem -A free-rcu"));
        assert_eq!(out, argv("bin -A free-rcu"));
        // Our own command lines are left alone.
        let ours = argv("bin --use-case overwrite -p 16");
        assert_eq!(bench_argv(ours.clone()), ours);
        let sub = argv("bin matrix -p 1");
        assert_eq!(bench_argv(sub.clone()), sub);
    }
}
