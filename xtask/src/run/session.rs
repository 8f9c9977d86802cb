//! What a run holds on the host while QEMU runs, as one [`Session`]: the
//! image lock, a private run directory (pid file, job files, sockets), the
//! shares and forwards, and the ssh port record.
//!
//! Dropping the session is the teardown; `run` drops it on every way out,
//! so no socket, job file, lock or ssh record outlives the command. A run
//! directory whose owner was SIGKILLed is removed by the next run.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::machine::{Console, Forward, MachineOptions, Port, Share};
use super::request::Request;
use crate::lock;
use crate::project::Project;
use crate::ssh;

/// Run directories are `$TMPDIR/acalsim-run-XXXXXX`.
const RUN_DIR_PREFIX: &str = "acalsim-run-";

/// The host side of one run. Fields drop in order: the ssh record first (so
/// `cargo xtask ssh` stops offering the guest), then the run directory, and
/// the image lock last, once nothing of the run is left.
pub struct Session {
    ssh: Option<ssh::PortRecord>,
    run_dir: tempfile::TempDir,
    _lock: lock::Lock,
    /// The `job` share: job.sh and authorized_keys in, the exit status out.
    pub job_dir: PathBuf,
    pub shares: Vec<Share>,
    /// The request's forwards, plus sshd's with `ssh`.
    pub forwards: Vec<Forward>,
}

impl Session {
    /// Locks `image`, makes the run directory and writes the job; starts the
    /// ssh record when asked.
    pub fn open(project: &Project, image: &str, request: &Request) -> Result<Session> {
        let lock = lock_image(project, image, request.persist)?;
        remove_stale_run_dirs();
        let run_dir = create_run_dir()?;
        let job_dir = run_dir.path().join("job");
        std::fs::create_dir(&job_dir).with_context(|| format!("creating {}", job_dir.display()))?;
        let work_share = work_share(project, request.share.as_deref())?;
        if request.is_job() {
            let path = job_dir.join("job.sh");
            std::fs::write(&path, job_script(&request.command, &request.envs))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        let mut forwards = request.forwards.clone();
        let ssh = if request.ssh {
            Some(start_ssh(project, image, &job_dir, &mut forwards)?)
        } else {
            None
        };
        let shares = vec![
            Share {
                name: "job".into(),
                host: job_dir.clone(),
                readonly: false,
            },
            Share {
                name: "scripts".into(),
                host: project.root.join("guest-scripts"),
                readonly: true,
            },
            Share {
                name: "share".into(),
                host: work_share,
                readonly: false,
            },
        ];
        Ok(Session {
            ssh,
            run_dir,
            _lock: lock,
            job_dir,
            shares,
            forwards,
        })
    }

    /// The run directory: the pid file, `job/` and the sockets.
    pub fn dir(&self) -> &Path {
        self.run_dir.path()
    }

    /// The host port forwarded to the guest's sshd, with `ssh`.
    pub fn ssh_port(&self) -> Option<u16> {
        self.ssh.as_ref().map(|s| s.port)
    }

    /// What [`super::machine::plan`] needs from the request and this session.
    pub fn machine_options(
        &self,
        request: &Request,
        qemu: &Path,
        sockets: &Sockets,
    ) -> Result<MachineOptions> {
        let job = request.is_job();
        Ok(MachineOptions {
            qemu: qemu.to_path_buf(),
            smp: request.smp,
            memory_mib: request.memory_mib,
            mode: request.mode,
            boot: request.boot_or_default(),
            persist: request.persist,
            job,
            net: request.net,
            ssh: request.ssh,
            console: if job {
                Console::Socket(sockets.console_path.clone())
            } else {
                Console::Terminal
            },
            shares: self.shares.clone(),
            forwards: self.forwards.clone(),
            ports: sockets.ports.iter().map(|(port, _)| port.clone()).collect(),
            sst_socket: request.sst_socket.clone(),
            append: request.append.clone(),
            drives: request
                .drives
                .iter()
                .map(|d| {
                    d.canonicalize()
                        .with_context(|| format!("--drive {}: no such file", d.display()))
                })
                .collect::<Result<_>>()?,
        })
    }
}

/// A fresh run directory holding our pid, so a later run can tell it is stale.
pub fn create_run_dir() -> Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(RUN_DIR_PREFIX)
        .tempdir()
        .context("creating a temporary directory for the run")?;
    let pid_file = dir.path().join("pid");
    std::fs::write(&pid_file, std::process::id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    Ok(dir)
}

/// Run directories are removed on every exit we get to see; one whose owner
/// was SIGKILLed (its QEMU died with it) is removed by the next run.
pub fn remove_stale_run_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for dir in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        if !dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(RUN_DIR_PREFIX))
        {
            continue;
        }
        let owner = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// `--share DIR`, or target/xtask/share; made if missing.
fn work_share(project: &Project, share: Option<&Path>) -> Result<PathBuf> {
    let dir = match share {
        Some(dir) => dir
            .canonicalize()
            .with_context(|| format!("--share {}: no such directory", dir.display()))?,
        None => project.xtask_dir().join("share"),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// A free port forwarded to the guest's sshd, the project's public key in
/// the job share, and the record `cargo xtask ssh` reads.
fn start_ssh(
    project: &Project,
    image: &str,
    job_dir: &Path,
    forwards: &mut Vec<Forward>,
) -> Result<ssh::PortRecord> {
    let port = ssh::free_port()?;
    forwards.push(Forward {
        host: port,
        guest: 22,
    });
    let key = ssh::ensure_key(&project.sh)?;
    std::fs::copy(key.with_extension("pub"), job_dir.join("authorized_keys"))
        .context("copying the ssh public key")?;
    ssh::PortRecord::start(project, image, port)
}

/// Persistent runs write the image: one at a time, and no other run may read
/// it meanwhile. Other runs share the lock with each other; `image` takes it
/// alone to replace the files. Whoever comes second is refused at once, with
/// the holder named: a run or a build may last hours, and a command that
/// blocks without a word looks hung.
fn lock_image(project: &Project, name: &str, persist: bool) -> Result<lock::Lock> {
    let mode = if persist {
        lock::Mode::Exclusive
    } else {
        lock::Mode::Shared
    };
    match lock::try_lock(&project.image_lock(name), mode)? {
        Ok(held) => Ok(held),
        Err(busy) if persist => bail!(
            "image `{name}` is in use ({busy}); a --persist run writes the image and needs it alone: wait for that to end"
        ),
        Err(busy) => bail!(
            "image `{name}` is being written ({busy}) by a `cargo xtask run --persist` or an image build; wait for it to end"
        ),
    }
}

/// The job script: exactly the argv given (no shell word splitting), in the
/// work share, with the extra environment.
fn job_script(command: &[String], envs: &[(String, String)]) -> String {
    let mut s =
        String::from("# written by `cargo xtask run`\ncd /mnt/share 2>/dev/null || cd /root\n");
    for (name, value) in envs {
        s.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    s.push_str("exec");
    for word in command {
        s.push(' ');
        s.push_str(&shell_quote(word));
    }
    s.push('\n');
    s
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Unix sockets QEMU connects to: the serial console and, for a job, the
/// guest's stdout and stderr ports. Bound in the run directory before QEMU
/// starts; the supervisor takes the listeners.
pub struct Sockets {
    pub console_path: PathBuf,
    pub console: UnixListener,
    pub ports: Vec<(Port, UnixListener)>,
}

impl Sockets {
    pub fn bind(dir: &Path, job: bool) -> Result<Sockets> {
        let bind = |file: &str| -> Result<(PathBuf, UnixListener)> {
            let path = dir.join(file);
            let listener = UnixListener::bind(&path)
                .with_context(|| format!("listening on {}", path.display()))?;
            listener
                .set_nonblocking(true)
                .context("making a socket non-blocking")?;
            Ok((path, listener))
        };
        let (console_path, console) = bind("console.sock")?;
        let mut ports = Vec::new();
        if job {
            for (name, file) in [
                ("acalsim.stdout", "stdout.sock"),
                ("acalsim.stderr", "stderr.sock"),
            ] {
                let (socket, listener) = bind(file)?;
                ports.push((
                    Port {
                        name: name.into(),
                        socket,
                    },
                    listener,
                ));
            }
        }
        Ok(Sockets {
            console_path,
            console,
            ports,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn job_script_keeps_every_argument_whole() {
        let s = job_script(
            &["sh".into(), "-c".into(), "echo 'it''s' $HOME".into()],
            &[("A_B".into(), "x y".into())],
        );
        assert_eq!(
            s,
            "# written by `cargo xtask run`\ncd /mnt/share 2>/dev/null || cd /root\nexport A_B='x y'\nexec 'sh' '-c' 'echo '\\''it'\\'''\\''s'\\'' $HOME'\n"
        );
    }

    #[test]
    fn shell_quote_survives_a_real_shell() {
        let word = "a 'b' \"c\" $d `e` \\f\n";
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(word)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
    }

    #[test]
    fn a_job_binds_console_stdout_and_stderr_sockets_in_the_run_dir() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sockets::bind(dir.path(), true).unwrap();
        assert_eq!(s.console_path, dir.path().join("console.sock"));
        let ports: Vec<_> = s.ports.iter().map(|(p, _)| p.name.as_str()).collect();
        assert_eq!(ports, ["acalsim.stdout", "acalsim.stderr"]);
        assert!(dir.path().join("stderr.sock").exists());
        let interactive = tempfile::tempdir().unwrap();
        assert!(Sockets::bind(interactive.path(), false)
            .unwrap()
            .ports
            .is_empty());
    }
}
