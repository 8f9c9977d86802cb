//! Advisory locks (`flock`) on lock files, and who holds one when it is
//! taken: the kernel lists every lock with its owner's pid in `/proc/locks`,
//! so a refusal names the holder's pid and command line, and a lock whose
//! holder died is gone with it (no stale pid files to clean up).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A held lock, released when dropped (or when the process dies).
pub struct Lock {
    _file: File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Readers: any number at once.
    Shared,
    /// A writer: alone.
    Exclusive,
}

/// The lock was held by others: who.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    pub path: PathBuf,
    pub holders: Vec<Holder>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Its command line, words joined by spaces (empty if it just ended).
    pub command: String,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.holders.is_empty() {
            return write!(
                f,
                "held by a process that just ended (lock {})",
                self.path.display()
            );
        }
        let holders: Vec<String> = self
            .holders
            .iter()
            .map(|h| match h.command.as_str() {
                "" => format!("pid {}", h.pid),
                command => format!("pid {} (`{command}`)", h.pid),
            })
            .collect();
        write!(
            f,
            "held by {} (lock {})",
            holders.join(", "),
            self.path.display()
        )
    }
}

/// Takes the lock at `path` (created if missing) now, or says who holds it.
pub fn try_lock(path: &Path, mode: Mode) -> Result<std::result::Result<Lock, Busy>> {
    let file = open(path)?;
    let taken = match mode {
        Mode::Shared => file.try_lock_shared(),
        Mode::Exclusive => file.try_lock(),
    };
    match taken {
        Ok(()) => Ok(Ok(Lock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(Err(Busy {
            path: path.to_path_buf(),
            holders: holders(&file),
        })),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

/// Takes the lock at `path`, waiting while others hold it; `waiting` is
/// called once, with who holds it, when the lock is not free at once.
pub fn lock_waiting(path: &Path, mode: Mode, waiting: impl FnOnce(&Busy)) -> Result<Lock> {
    match try_lock(path, mode)? {
        Ok(lock) => Ok(lock),
        Err(busy) => {
            waiting(&busy);
            let file = open(path)?;
            match mode {
                Mode::Shared => file.lock_shared(),
                Mode::Exclusive => file.lock(),
            }
            .with_context(|| format!("locking {}", path.display()))?;
            Ok(Lock { _file: file })
        }
    }
}

/// The lock file at `path`, made (with its directory) when missing.
fn open(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening the lock {}", path.display()))
}

/// Whether anyone holds the lock at `path` (a missing file: nobody).
#[cfg(test)]
pub fn is_held(path: &Path) -> bool {
    File::open(path).is_ok_and(|file| !holders_pids(&file).is_empty())
}

/// The other processes holding a lock on `file`, with their command lines.
fn holders(file: &File) -> Vec<Holder> {
    let own = std::process::id();
    holders_pids(file)
        .into_iter()
        .filter(|&pid| pid != own)
        .map(|pid| Holder {
            pid,
            command: command_line(pid),
        })
        .collect()
}

fn holders_pids(file: &File) -> Vec<u32> {
    let Ok(meta) = file.metadata() else {
        return Vec::new();
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    lock_owners(&locks, device_id(meta.dev()), meta.ino())
}

/// `MAJOR:MINOR` in hex, as /proc/locks writes a device.
fn device_id(dev: u64) -> String {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    format!("{major:02x}:{minor:02x}")
}

/// The pids that hold (not wait for) a lock on inode `ino` of device `dev`,
/// from the text of /proc/locks, each once.
pub fn lock_owners(locks: &str, dev: String, ino: u64) -> Vec<u32> {
    let target = format!("{dev}:{ino}");
    let mut pids = Vec::new();
    for line in locks.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // "N: FLOCK ADVISORY WRITE PID DEV:INO START END"; waiters have "->" after N:.
        if words.get(1) == Some(&"->") || words.len() < 6 {
            continue;
        }
        if words[5] == target {
            if let Ok(pid) = words[4].parse::<u32>() {
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
    }
    pids
}

fn command_line(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Another process holding a lock, as another `cargo xtask` would: one
    /// process (no child inherits it), gone when killed.
    pub const HOLD_LOCK: &str = "import fcntl, sys, time\nf = open(sys.argv[1], 'w')\nfcntl.flock(f, fcntl.LOCK_EX)\ntime.sleep(60)";

    #[test]
    fn owners_are_read_from_proc_locks_without_waiters() {
        let locks = "\
1: FLOCK  ADVISORY  WRITE 19122 fe:00:5366235 0 EOF
1: -> FLOCK  ADVISORY  WRITE 777 fe:00:5366235 0 EOF
2: FLOCK  ADVISORY  READ 16435 fe:00:10133507 0 EOF
3: FLOCK  ADVISORY  READ 16436 fe:00:10133507 0 EOF
4: POSIX  ADVISORY  WRITE 16229 fe:01:10133507 0 EOF
";
        assert_eq!(lock_owners(locks, "fe:00".into(), 5366235), [19122]);
        assert_eq!(lock_owners(locks, "fe:00".into(), 10133507), [16435, 16436]);
        assert!(lock_owners(locks, "fe:00".into(), 1).is_empty());
    }

    #[test]
    fn device_ids_are_written_as_proc_locks_does() {
        assert_eq!(device_id(0xfe00), "fe:00");
        assert_eq!(device_id((259 << 8) | 3), "103:03");
    }

    #[test]
    fn a_busy_lock_names_its_holder_and_frees_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        // A child process holds it, as another `cargo xtask` would.
        let mut child = std::process::Command::new("python3")
            .args(["-c", HOLD_LOCK])
            .arg(&path)
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let busy = loop {
            match try_lock(&path, Mode::Exclusive).unwrap() {
                Err(busy) if !busy.holders.is_empty() => break busy,
                _ => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "flock never took the lock"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        };
        assert_eq!(busy.holders[0].pid, child.id());
        assert!(
            busy.to_string().contains(&format!("pid {} (`", child.id()))
                && busy.to_string().contains("python3 -c import fcntl"),
            "{busy}"
        );
        assert!(is_held(&path));
        child.kill().unwrap();
        child.wait().unwrap();
        let mine = try_lock(&path, Mode::Exclusive)
            .unwrap()
            .expect("free once the holder died");
        assert!(try_lock(&path, Mode::Shared).unwrap().is_err());
        drop(mine);
        let a = try_lock(&path, Mode::Shared).unwrap().expect("shared");
        let _b = try_lock(&path, Mode::Shared)
            .unwrap()
            .expect("shared twice");
        drop(a);
    }
}
