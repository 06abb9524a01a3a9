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
///
/// bench.c's common options before another benchmark's name (`htab-mem -a -p 4 kfree-rcu`):
/// `-a` is dropped (every benchmark pins), `-p N` becomes kfree-rcu's `--nthreads N`; any
/// other option of the run there is refused with the reason (map-perf-test and kfree-rcu run
/// to completion, so `-w`/`-d` mean nothing to them).
pub fn bench_argv(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let Some((at, name)) = first_positional(&args) else {
        return Ok(args);
    };
    if name == "map-perf-test" || name == "kfree-rcu" {
        return common_options_before(args, at, &name);
    }
    if name != "htab-mem" {
        return Ok(args);
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
    Ok(out)
}

/// `bin [common options] NAME [its options]` for map-perf-test and kfree-rcu: the common
/// options bench.c gives every benchmark, moved to where the subcommand takes them.
fn common_options_before(
    args: Vec<OsString>,
    at: usize,
    name: &str,
) -> Result<Vec<OsString>, String> {
    let mut moved: Vec<OsString> = Vec::new();
    let mut i = 1;
    while i < at {
        let tok = args[i].to_string_lossy().into_owned();
        let (opt, inline) = match tok.split_once('=') {
            Some((o, v)) if o.starts_with("--") => (o.to_string(), Some(v.to_string())),
            // A short option with its value attached (`-p4`, `-w3`).
            _ if !tok.starts_with("--") && tok.len() > 2 && tok.is_char_boundary(2) => {
                (tok[..2].to_string(), Some(tok[2..].to_string()))
            }
            _ => (tok.clone(), None),
        };
        let value = |i: &mut usize| -> Result<OsString, String> {
            match &inline {
                Some(v) => Ok(v.into()),
                None => {
                    *i += 1;
                    args.get(*i)
                        .cloned()
                        .ok_or_else(|| format!("{opt} needs a value"))
                }
            }
        };
        match opt.as_str() {
            "-a" | "--affinity" => {}
            "-p" | "--producers" if name == "kfree-rcu" => {
                moved.push("--nthreads".into());
                moved.push(value(&mut i)?);
            }
            "-p" | "--producers" => {
                return Err(format!(
                    "{opt} before map-perf-test: give the workers as its NUM_PROCS argument \
                     (htab-mem map-perf-test FLAGS NUM_PROCS ...)"
                ))
            }
            "-w" | "--warmup" | "-d" | "--duration" => {
                return Err(format!(
                    "{opt} before {name}: it runs to completion, with no warm-up or duration"
                ))
            }
            _ => {
                return Err(format!(
                    "{tok} is an option of the htab-mem run, not of {name} (see htab-mem {name} --help)"
                ))
            }
        }
        i += 1;
    }
    let mut out = vec![args[0].clone(), args[at].clone()];
    out.extend(moved);
    out.extend(args[at + 1..].iter().cloned());
    Ok(out)
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
        let b = |s: &str| bench_argv(argv(s)).unwrap();
        let out = b("bin -w3 -a htab-mem --use-case overwrite -p8");
        assert_eq!(
            out,
            argv("bin -w3 -a --use-case overwrite -p8 -A immediate-reuse")
        );
        let out = b("bin -w3 htab-mem --preallocated");
        assert_eq!(out, argv("bin -w3 --preallocated"));
        let out = b("bin htab-mem -A free-rcu");
        assert_eq!(out, argv("bin -A free-rcu"));
        // Our own command lines are left alone.
        let ours = argv("bin --use-case overwrite -p 16");
        assert_eq!(b("bin --use-case overwrite -p 16"), ours);
        assert_eq!(b("bin matrix -p 1"), argv("bin matrix -p 1"));
    }

    #[test]
    fn common_options_before_the_other_benchmarks_go_where_they_apply() {
        let b = |s: &str| bench_argv(argv(s));
        assert_eq!(
            b("bin -a -p 4 kfree-rcu --loops 2"),
            Ok(argv("bin kfree-rcu --nthreads 4 --loops 2"))
        );
        assert_eq!(
            b("bin -a -p4 kfree-rcu"),
            Ok(argv("bin kfree-rcu --nthreads 4"))
        );
        assert_eq!(
            b("bin -a map-perf-test 4 2"),
            Ok(argv("bin map-perf-test 4 2"))
        );
        for (line, needle) in [
            ("bin -w3 -d10 -a map-perf-test 4 2", "runs to completion"),
            ("bin -p 2 map-perf-test 4", "NUM_PROCS"),
            ("bin --use-case x kfree-rcu", "not of kfree-rcu"),
        ] {
            let e = b(line).unwrap_err();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }
}
