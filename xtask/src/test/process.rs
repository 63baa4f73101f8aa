//! One command run with a timeout: its stdout captured (and echoed), how it ended, and on timeout the
//! command killed with every process it started.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// How a command ended.
pub(super) enum End {
    Exited(ExitStatus),
    /// Stopped, with everything it started, after running this long.
    TimedOut(Duration),
    /// It could not be started.
    Unstartable(String),
}

impl End {
    /// Why a run that printed no result did not run to its end.
    pub(super) fn why(&self) -> String {
        match self {
            End::TimedOut(after) => format!("timed out after {} s", after.as_secs()),
            End::Unstartable(e) => format!("could not start: {e}"),
            End::Exited(status) if status.code().is_none() => format!("crashed ({status})"),
            End::Exited(status) => format!("ended without a result ({status})"),
        }
    }
}

/// What a command printed on stdout (line by line) and how it ended.
pub(super) struct Ran {
    pub(super) lines: Vec<String>,
    pub(super) end: End,
}

/// Runs `cmd` with stdout captured (and echoed when `echo`), stderr shown as is. After `timeout` the
/// command and every process it started are killed.
pub(super) fn run_captured(mut cmd: Command, timeout: Duration, echo: bool) -> Ran {
    cmd.stdout(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {cmd:?}: {e}");
            return Ran {
                lines: Vec::new(),
                end: End::Unstartable(e.to_string()),
            };
        }
    };
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (eof_tx, eof) = mpsc::channel::<()>();
    let stdout = child.stdout.take().expect("piped stdout");
    let sink = lines.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut buf = Vec::new();
        // Bytes, not `lines()`: one line that is not UTF-8 must not stop the reading (and block the child).
        while matches!(reader.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            if echo {
                println!("{line}");
            }
            sink.lock().expect("output lines").push(line);
            buf.clear();
        }
        let _ = eof_tx.send(());
    });
    let started = Instant::now();
    let end = loop {
        match child.try_wait() {
            Ok(Some(status)) => break End::Exited(status),
            Ok(None) if started.elapsed() >= timeout => {
                eprintln!(
                    "timed out after {} s: stopping {cmd:?} and what it started",
                    timeout.as_secs()
                );
                kill_tree(child.id());
                let _ = child.kill();
                let _ = child.wait();
                break End::TimedOut(started.elapsed());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => break End::Unstartable(e.to_string()),
        }
    };
    // A process the command left behind may hold its stdout open: do not wait for it for long.
    let _ = eof.recv_timeout(Duration::from_secs(10));
    let lines = std::mem::take(&mut *lines.lock().expect("output lines"));
    Ran { lines, end }
}

/// Kills `root` and all its descendants (found through /proc): stops them first, so none can start
/// another process or be re-parented away meanwhile, then kills them all.
fn kill_tree(root: u32) {
    let mut tree = vec![root];
    loop {
        let children = children_by_parent();
        let before = tree.len();
        let mut i = 0;
        while i < tree.len() {
            for &c in children.get(&tree[i]).into_iter().flatten() {
                if !tree.contains(&c) {
                    tree.push(c);
                }
            }
            i += 1;
        }
        signal("-STOP", &tree);
        if tree.len() == before {
            break;
        }
    }
    signal("-KILL", &tree);
}

fn signal(sig: &str, pids: &[u32]) {
    let _ = Command::new("kill")
        .arg(sig)
        .args(pids.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// Parent pid → child pids, from /proc (empty where there is no /proc).
fn children_by_parent() -> HashMap<u32, Vec<u32>> {
    let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses, so read after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            map.entry(ppid).or_default().push(pid);
        }
    }
    map
}
