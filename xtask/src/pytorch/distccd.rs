//! distccd on the host: started in the toolchain root, ready only once its
//! own process listens on the port (not whatever else may), stopped with
//! everything it started.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// How long distccd may take to listen (it reads its compiler list first).
const LISTEN_TIMEOUT: Duration = Duration::from_secs(20);

/// distccd serving the cross compilers on 127.0.0.1:`port` only; killed
/// (with everything in its PID namespace) when dropped or when we die.
///
/// distccd started as root changes its uid, which clears the parent-death
/// signal `unshare --kill-child` relies on; so a shell that keeps its uid is
/// the namespace's PID 1 and distccd its child: when `unshare` goes (our Drop,
/// or Ctrl-C reaching it first), the shell is SIGKILLed and the kernel ends
/// every process of the namespace with it.
pub struct Distccd {
    child: Child,
    pub port: u16,
}

impl Distccd {
    pub fn start(sh: &Shell, root: &Path, port: u16, jobs: usize, log: &Path) -> Result<Distccd> {
        let script = sh.current_dir().join("debian/scripts/chroot.sh");
        let log_file =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let (port_s, jobs_s) = (port.to_string(), jobs.to_string());
        let serve = r#"distccd "$@" & wait"#;
        let mut command: Command = cmd!(
            sh,
            "unshare --mount --pid --fork --kill-child sh {script} {root} sh -c {serve} distccd --no-detach --daemon --log-stderr --log-level info --listen 127.0.0.1 --allow 127.0.0.1/32 --port {port_s} --jobs {jobs_s}"
        )
        .into();
        command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = command.spawn().context("starting distccd")?;
        let mut distccd = Distccd { child, port };
        distccd.wait_listening(log)?;
        Ok(distccd)
    }

    /// Until a process of ours listens on the port; an exit of ours ends the
    /// wait at once, with the log's last lines.
    fn wait_listening(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + LISTEN_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for distccd")? {
                bail!(
                    "distccd exited ({status}) before it listened on 127.0.0.1:{}; the end of {}:\n{}",
                    self.port,
                    log.display(),
                    last_lines(log, 15)
                );
            }
            if listener_is_ours(self.child.id(), self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "distccd did not listen on 127.0.0.1:{} within {} s{}; the end of {}:\n{}",
                    self.port,
                    LISTEN_TIMEOUT.as_secs(),
                    if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                        " (another process listens there)"
                    } else {
                        ""
                    },
                    log.display(),
                    last_lines(log, 15)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Distccd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn last_lines(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether the socket listening on 127.0.0.1:`port` belongs to `ancestor`
/// or one of its descendants.
fn listener_is_ours(ancestor: u32, port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let Some(inode) = listening_inode(&table, port) else {
        return false;
    };
    let socket = format!("socket:[{inode}]");
    holders_of(&socket)
        .into_iter()
        .any(|pid| descends_from(pid, ancestor))
}

/// The inode of the socket listening on 127.0.0.1:`port` in a /proc/net/tcp table.
pub fn listening_inode(table: &str, port: u16) -> Option<u64> {
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …; 0A is LISTEN.
        (words.len() > 9 && words[1] == local && words[3] == "0A")
            .then(|| words[9].parse().ok())
            .flatten()
    })
}

/// Pids with an open file descriptor on `target` (e.g. `socket:[123]`).
fn holders_of(target: &str) -> Vec<u32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target))
            })
        })
        .collect()
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..64 {
        if pid == ancestor {
            return true;
        }
        match parent_of(pid) {
            Some(parent) if parent > 1 => pid = parent,
            _ => return false,
        }
    }
    false
}

/// The parent pid from /proc/PID/stat (after the command's closing paren).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_socket_on_loopback_is_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 0100007F:0E30 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:0E31 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0
";
        assert_eq!(listening_inode(table, 0x0E30), Some(222));
        assert_eq!(
            listening_inode(table, 0x0E31),
            None,
            "established, not listening"
        );
        assert_eq!(listening_inode(table, 1), None);
    }

    #[test]
    fn a_listener_is_ours_only_when_our_child_or_its_child_holds_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listener_is_ours(std::process::id(), port));
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(
            !listener_is_ours(other.id(), port),
            "a listener of someone else's"
        );
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
