//! One process per run: the parent hands a child its `Plan` as JSON on stdin; the child runs
//! it and answers on stdout with one tagged line holding what it ran (`Ran`), after its
//! progress lines. A fresh process per cell keeps one cell's heap, threads and RCU state out
//! of the next one's figures.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{Plan, Ran};

/// Marks the child's result line on its stdout.
const RESULT_TAG: &str = "@@htab-mem-result ";

/// The hidden flag that makes this binary a child.
pub const CHILD_FLAG: &str = "--child";

/// How a child says it cannot parse its plan (another build's protocol): the parent of a
/// `--baseline-exe` run looks for it in the failed cell's message.
pub const UNREADABLE_PLAN: &str = "child: unreadable plan";

/// The child's side: reads the plan, runs it, reports. Exit status 1 when it cannot run.
pub fn child_main() -> ExitCode {
    crate::error::exit(child_run())
}

fn child_run() -> crate::error::Result {
    use crate::error::{Error::Failed, OrFailed};
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failed(format!("child: cannot read the plan: {e}")))?;
    let plan: Plan =
        serde_json::from_str(&text).map_err(|e| Failed(format!("{UNREADABLE_PLAN}: {e}")))?;
    let ran = plan.run().or_failed()?;
    let json = serde_json::to_string(&ran).expect("serialising a result");
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{RESULT_TAG}{json}");
    let _ = out.flush();
    Ok(())
}

/// How the parent treats the child.
pub struct Spawn<'a> {
    /// Print the child's progress lines and stderr as they come (a run), or keep them (a
    /// matrix, whose own progress is the cell lines).
    pub forward: bool,
    /// Set by a signal handler: the child's whole process group is killed and the run
    /// dropped. With it, the child gets a process group of its own, so a terminal's Ctrl-C
    /// reaches only the parent, which ends the child.
    pub stop: Option<&'a AtomicBool>,
    /// Another binary to run the plan in (a matrix's `--baseline-exe`); None: this one.
    pub exe: Option<&'a std::path::Path>,
}

/// How a child run ended.
pub enum Outcome {
    Ran(Box<Ran>),
    /// It produced no result; the reason, with the child's last stderr line.
    Failed(String),
    /// A stop was requested.
    Stopped,
}

/// Runs `plan` in a fresh process of this binary (or of `how.exe`).
pub fn run(plan: &Plan, how: Spawn) -> Outcome {
    let exe = match how.exe {
        Some(e) => e.to_path_buf(),
        None => match std::env::current_exe() {
            Ok(e) => e,
            Err(e) => return Outcome::Failed(format!("cannot find own executable: {e}")),
        },
    };
    let mut cmd = Command::new(exe);
    cmd.arg(CHILD_FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if how.stop.is_some() {
        cmd.process_group(0);
    }
    die_with_parent(&mut cmd);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot start a child process: {e}")),
    };
    let json = serde_json::to_vec(plan).expect("serialising a plan");
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A child that died at once leaves a broken pipe; its status says why.
    let _ = stdin.write_all(&json);
    drop(stdin);
    let forward = how.forward;
    let stderr = child.stderr.take().expect("piped stderr");
    let err_reader = std::thread::spawn(move || {
        let mut last = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if forward {
                eprintln!("{line}");
            }
            if !line.trim().is_empty() {
                last = line;
            }
        }
        last
    });
    let stdout = child.stdout.take().expect("piped stdout");
    let out_reader = std::thread::spawn(move || {
        let mut result = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(json) = line.strip_prefix(RESULT_TAG) {
                result = Some(serde_json::from_str::<Ran>(json));
            } else if forward {
                println!("{line}");
            }
        }
        result
    });
    let status = loop {
        if how.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            kill_group(&mut child);
            let _ = out_reader.join();
            let _ = err_reader.join();
            return Outcome::Stopped;
        }
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(e),
        }
    };
    let result = out_reader.join().unwrap_or(None);
    let last_err = err_reader.join().unwrap_or_default();
    let last_err = last_err
        .trim()
        .strip_prefix("htab-mem: ")
        .unwrap_or(last_err.trim());
    match (result, status) {
        (Some(Ok(r)), Ok(s)) if s.success() => Outcome::Ran(Box::new(r)),
        (Some(Err(e)), _) => Outcome::Failed(format!("unreadable result from the child: {e}")),
        (_, Ok(s)) => Outcome::Failed(format!(
            "child process failed ({s}){}{last_err}",
            if last_err.is_empty() { "" } else { ": " }
        )),
        (_, Err(e)) => Outcome::Failed(format!("waiting for the child process: {e}")),
    }
}

/// The child dies with us, whatever kills us (SIGTERM, SIGKILL, SIGHUP): a measuring child
/// must never run on as an orphan, burning a CPU. The kernel sends PR_SET_PDEATHSIG's signal
/// when the thread that forked the child exits, so children are spawned from the thread that
/// waits for them (the main thread here).
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: getpid(2) only reads the caller's pid.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and calls only prctl(2),
    // getppid(2) and _exit(2), which are async-signal-safe; it touches no memory of the
    // parent's beyond the copied `parent` integer.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent died before prctl took effect: nobody will signal us.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

fn kill_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with a negative pid signals the process group we created for this
    // child (process_group(0) makes its pid the group id); no memory is involved.
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
}
