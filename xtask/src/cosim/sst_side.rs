//! The SST side of a session as our child: started in its own process
//! group with its output in a log, watched until it listens on the socket,
//! and stopped in order (SIGTERM to the group, SIGKILL after a grace).
//! Dropping it stops it, so no way out of a session leaves it running.

use std::fs::File;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::listening::listening;
use crate::run::{die_with_us, Signals, Watch};

/// How long the SST side has to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// What to start: a program and its arguments, where, with which socket.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// argv; a shell command is `["sh", "-c", CMD]`.
    pub argv: Vec<String>,
    /// How the user wrote it, for messages.
    pub shown: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// Variables set for it besides `ACALSIM_SST_SOCKET`.
    pub env: Vec<(String, String)>,
}

/// `CMD` with `{socket}` replaced: run directly when it is plain words
/// (so the process we signal is the SST side itself), through `sh -c` when
/// it uses the shell (quotes, `&&`, `$VAR`, redirections…). Which one is
/// decided on the command as written: the socket path is data, so a space
/// or a `$` in it never changes how the command is read.
pub fn launch_of_shell_command(command: &str, dir: &Path, socket: &Path) -> Launch {
    let path = socket.to_string_lossy();
    let plain = command
        .replace(SOCKET, "")
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " \t_./=:,+@%-".contains(c));
    let argv = if plain {
        command
            .split_whitespace()
            .map(|word| word.replace(SOCKET, &path))
            .collect()
    } else {
        vec!["sh".into(), "-c".into(), substitute_quoted(command, &path)]
    };
    Launch {
        argv,
        shown: command.replace(SOCKET, &path),
        dir: dir.to_path_buf(),
        socket: socket.to_path_buf(),
        env: Vec::new(),
    }
}

const SOCKET: &str = "{socket}";

/// `command` for `sh -c` with every `{socket}` replaced by `path` quoted for
/// where it stands: outside quotes, inside '…' or inside "…".
fn substitute_quoted(command: &str, path: &str) -> String {
    #[derive(Clone, Copy, PartialEq)]
    enum Quote {
        None,
        Single,
        Double,
    }
    let mut out = String::new();
    let mut state = Quote::None;
    let mut rest = command;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix(SOCKET) {
            out.push_str(&match state {
                Quote::None => format!("'{}'", path.replace('\'', r"'\''")),
                Quote::Single => path.replace('\'', r"'\''"),
                Quote::Double => path
                    .chars()
                    .flat_map(|c| {
                        let escape = matches!(c, '$' | '`' | '"' | '\\');
                        escape.then_some('\\').into_iter().chain([c])
                    })
                    .collect(),
            });
            rest = after;
            continue;
        }
        rest = &rest[c.len_utf8()..];
        out.push(c);
        match (state, c) {
            (Quote::None | Quote::Double, '\\') => {
                // The next character is taken literally: copy it as it is.
                if let Some(next) = rest.chars().next() {
                    out.push(next);
                    rest = &rest[next.len_utf8()..];
                }
            }
            (Quote::None, '\'') => state = Quote::Single,
            (Quote::None, '"') => state = Quote::Double,
            (Quote::Single, '\'') | (Quote::Double, '"') => state = Quote::None,
            _ => {}
        }
    }
    out
}

/// The environment that makes `cargo xtask sst build`'s SST the one a
/// command finds: its `bin/` first on `PATH` and its element directory
/// first in `SST_LIB_PATH` (SST-core's own search path variable), before
/// what the user has (`path`, `lib_path`).
pub fn built_sst_env(
    bin: &Path,
    elements: &Path,
    path: Option<&str>,
    lib_path: Option<&str>,
) -> Vec<(String, String)> {
    let first = |dir: &Path, rest: Option<&str>| match rest.filter(|r| !r.is_empty()) {
        Some(rest) => format!("{}:{rest}", dir.display()),
        None => dir.display().to_string(),
    };
    vec![
        ("PATH".into(), first(bin, path)),
        ("SST_LIB_PATH".into(), first(elements, lib_path)),
    ]
}

/// How waiting for the socket ended, when it did not fail.
pub enum Waited {
    Listening(Duration),
    Interrupted(i32),
}

/// The running SST side.
pub struct SstSide {
    child: Arc<Mutex<Child>>,
    pub pid: u32,
    pub launch: Launch,
    pub log: PathBuf,
    stopped: Option<ExitStatus>,
}

impl SstSide {
    /// Starts `launch` with stdout and stderr in `log` (a header first).
    pub fn start(launch: &Launch, log: &Path) -> Result<SstSide> {
        let mut file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        writeln!(
            file,
            "# sst: {}\n# dir: {}\n# socket: {}\n",
            launch.shown,
            launch.dir.display(),
            launch.socket.display()
        )
        .with_context(|| format!("writing {}", log.display()))?;
        let err = file
            .try_clone()
            .context("duplicating the SST log's handle")?;
        let (program, args) = launch
            .argv
            .split_first()
            .context("the SST command is empty")?;
        let mut command = Command::new(program);
        command
            .args(args)
            .current_dir(&launch.dir)
            .env("ACALSIM_SST_SOCKET", &launch.socket)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .process_group(0);
        die_with_us(&mut command, "the SST side");
        let child = command.spawn().with_context(|| {
            format!(
                "starting the SST side `{}` in {}: is `{program}` installed and on PATH? \
                 (`cargo xtask sst build` builds SST-core and ACALSim's component; `cosim` then puts its `sst` on PATH)",
                launch.shown,
                launch.dir.display()
            )
        })?;
        Ok(SstSide {
            pid: child.id(),
            child: Arc::new(Mutex::new(child)),
            launch: launch.clone(),
            log: log.to_path_buf(),
            stopped: None,
        })
    }

    /// Until the socket listens; an error (with the log's last lines) when
    /// the SST side exits first or `timeout` passes.
    pub fn wait_listening(&mut self, timeout: Duration, signals: &Signals) -> Result<Waited> {
        let started = Instant::now();
        loop {
            if listening(&self.launch.socket)? {
                return Ok(Waited::Listening(started.elapsed()));
            }
            if let Some(status) = self.exited() {
                bail!(
                    "the SST side `{}` {} before it listened on {}; its last lines:\n{}\n(log: {})",
                    self.launch.shown,
                    describe(status),
                    self.launch.socket.display(),
                    self.log_tail(),
                    self.log.display()
                );
            }
            if let Some(signal) = signals.caught() {
                return Ok(Waited::Interrupted(signal));
            }
            if started.elapsed() >= timeout {
                bail!(
                    "the SST side `{}` did not listen on {} within {}s (--listen-timeout); is that the socket its config opens? \
                     (an SST config that fixes its own path needs --socket PATH); its last lines:\n{}\n(log: {})",
                    self.launch.shown,
                    self.launch.socket.display(),
                    timeout.as_secs(),
                    self.log_tail(),
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Its exit status, if it has ended on its own.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.lock().ok()?.try_wait().ok().flatten()
    }

    /// For `run`: says once the SST side has ended, and how.
    pub fn watch(&self) -> Watch {
        let child = Arc::clone(&self.child);
        let shown = self.launch.shown.clone();
        Box::new(move || {
            let status = child.lock().ok()?.try_wait().ok().flatten()?;
            Some(format!("the SST side `{shown}` {}", describe(status)))
        })
    }

    /// SIGTERM to its process group, SIGKILL if the leader has not exited
    /// after [`STOP_GRACE`]; anything left in the group is killed too.
    pub fn stop(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.stopped {
            return Ok(status);
        }
        let group = self.pid as libc::pid_t;
        // SAFETY: killpg on the group we created for our own child, not yet reaped.
        unsafe { libc::killpg(group, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_GRACE;
        let mut child = self
            .child
            .lock()
            .map_err(|_| anyhow::anyhow!("the SST side's handle was poisoned"))?;
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for the SST side")? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                break child
                    .wait()
                    .context("waiting for the SST side after SIGKILL")?;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: as above; a group with no members left returns ESRCH.
        unsafe { libc::killpg(group, libc::SIGKILL) };
        self.stopped = Some(status);
        Ok(status)
    }

    /// The last lines of its log, indented, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("# ")).collect();
        let tail = &lines[lines.len().saturating_sub(12)..];
        if tail.iter().all(|l| l.trim().is_empty()) {
            return "  (it printed nothing)".into();
        }
        tail.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for SstSide {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("warning: stopping the SST side (pid {}): {e:#}", self.pid);
        }
    }
}

/// "exited with status N" or "was killed by signal N".
pub fn describe(status: ExitStatus) -> String {
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        _ => "ended".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_sst_comes_first_on_path_and_in_sst_lib_path() {
        let (bin, el) = (Path::new("/c/core/bin"), Path::new("/c/element"));
        assert_eq!(
            built_sst_env(bin, el, Some("/usr/bin:/bin"), None),
            [
                ("PATH".to_string(), "/c/core/bin:/usr/bin:/bin".to_string()),
                ("SST_LIB_PATH".to_string(), "/c/element".to_string()),
            ]
        );
        assert_eq!(
            built_sst_env(bin, el, Some(""), Some("/my/elements"))[1].1,
            "/c/element:/my/elements"
        );
    }

    #[test]
    fn plain_words_run_directly_and_shell_syntax_goes_through_sh() {
        let (dir, socket) = (Path::new("/w"), Path::new("/tmp/s.sock"));
        let l = launch_of_shell_command("sst --add-lib-path=/opt/lib linux_basic.py", dir, socket);
        assert_eq!(l.argv, ["sst", "--add-lib-path=/opt/lib", "linux_basic.py"]);
        let l = launch_of_shell_command("peer --socket {socket}", dir, socket);
        assert_eq!(l.argv, ["peer", "--socket", "/tmp/s.sock"]);
        assert_eq!(l.shown, "peer --socket /tmp/s.sock");
        let l = launch_of_shell_command("cd cfg && sst 'a b.py' > /dev/null", dir, socket);
        assert_eq!(l.argv, ["sh", "-c", "cd cfg && sst 'a b.py' > /dev/null"]);
        let l = launch_of_shell_command("sst $HOME/x.py", dir, socket);
        assert_eq!(l.argv[0], "sh");
        // A path with shell characters is data: plain words stay plain.
        let odd = Path::new("/tmp/a b$c/s.sock");
        let l = launch_of_shell_command("peer --socket {socket}", dir, odd);
        assert_eq!(l.argv, ["peer", "--socket", "/tmp/a b$c/s.sock"]);
    }

    #[test]
    fn the_socket_reaches_a_shell_command_whole_wherever_it_stands() {
        let path = r#"/tmp/a b$HOME`x`'q'"d"\e/s.sock"#;
        for command in [
            "printf '%s|' {socket} && true",
            "printf '%s|' \"{socket}\" && true",
            "printf '%s|' '{socket}' && true",
            "printf '%s|' x{socket}y 'it''s' \\' && true",
        ] {
            let l = launch_of_shell_command(command, Path::new("/"), Path::new(path));
            assert_eq!(l.argv[..2], ["sh", "-c"], "{command}");
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&l.argv[2])
                .output()
                .unwrap();
            let printed = String::from_utf8(out.stdout).unwrap();
            let first = printed.split('|').next().unwrap();
            let expected = if command.contains("x{socket}y") {
                format!("x{path}y")
            } else {
                path.to_string()
            };
            assert_eq!(first, expected, "{command} became {}", l.argv[2]);
        }
    }

    #[test]
    fn a_started_side_that_exits_at_once_is_reported_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s.sock");
        let launch = launch_of_shell_command("echo bad config >&2; exit 3", dir.path(), &socket);
        let mut side = SstSide::start(&launch, &dir.path().join("sst.log")).unwrap();
        let signals = Signals::register().unwrap();
        let e = side
            .wait_listening(Duration::from_secs(20), &signals)
            .err()
            .expect("an SST side that exits must be an error")
            .to_string();
        assert!(e.contains("exited with status 3 before it listened"), "{e}");
        assert!(e.contains("  bad config"), "{e}");
    }

    #[test]
    fn stop_ends_the_whole_group_even_when_sigterm_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("grandchild");
        let cmd = format!(
            "trap '' TERM; sleep 300 & echo $! > {}; wait",
            marker.display()
        );
        let launch = launch_of_shell_command(&cmd, dir.path(), &dir.path().join("s.sock"));
        let mut side = SstSide::start(&launch, &dir.path().join("sst.log")).unwrap();
        while !marker.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(50));
        let grandchild: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let status = side.stop().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        std::thread::sleep(Duration::from_millis(100));
        let state = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        assert!(
            state.is_empty() || state.contains(") Z "),
            "the grandchild survived: {state}"
        );
    }
}
