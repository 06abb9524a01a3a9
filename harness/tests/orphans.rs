//! A measuring child dies with its parent, whatever kills the parent: in the plain run and in
//! the matrix, for SIGTERM, SIGKILL and SIGHUP. (The bound below is how long we wait for a
//! death, not a performance figure: a surviving child would run for its whole 30 s cell.)

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The pids whose parent is `ppid` and that are not zombies, from /proc/*/stat.
fn live_children(ppid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().unwrap_or("");
        let parent: u32 = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if parent == ppid && state != "Z" && state != "X" {
            v.push(pid);
        }
    }
    v
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_htab-mem"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn kill_parent_and_check(mut parent: Child, sig: i32) {
    let pid = parent.id();
    let child = wait_for("the measuring child", || {
        live_children(pid).first().copied()
    });
    // SAFETY: signals the process we spawned and have not yet reaped.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
    let _ = parent.wait();
    let end = Instant::now() + Duration::from_secs(5);
    while alive(child) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !alive(child),
        "child {child} outlived its parent (signal {sig})"
    );
}

#[test]
fn a_run_child_dies_with_its_parent() {
    for sig in [libc::SIGTERM, libc::SIGKILL, libc::SIGHUP] {
        let p = spawn(&[
            "-A",
            "immediate-reuse",
            "-p",
            "1",
            "-w",
            "1",
            "-d",
            "30",
            "-q",
        ]);
        kill_parent_and_check(p, sig);
    }
}

#[test]
fn a_matrix_cell_dies_with_its_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.json");
    for sig in [libc::SIGTERM, libc::SIGKILL, libc::SIGHUP] {
        let p = spawn(&[
            "matrix",
            "--out",
            out.to_str().unwrap(),
            "-A",
            "immediate-reuse",
            "--use-cases",
            "overwrite",
            "-p",
            "1",
            "-d",
            "30",
            "-q",
        ]);
        kill_parent_and_check(p, sig);
    }
}
