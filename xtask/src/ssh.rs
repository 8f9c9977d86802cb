//! ssh into a running guest: the project's key, the forwarded port, and
//! `cargo xtask ssh`.
//!
//! `run --ssh` forwards a free port on 127.0.0.1 to the guest's sshd (dropbear,
//! started by `acalsim-guest setup` with the public key from the job share)
//! and records the port in `target/xtask/run/IMAGE.ssh` while the guest runs.

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::flags;
use crate::project::Project;

/// A port nobody listens on right now (QEMU binds it a moment later).
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port on 127.0.0.1")?;
    Ok(listener
        .local_addr()
        .context("reading the free port")?
        .port())
}

/// The project's ssh key, made on first use; returns the private key's path.
pub fn ensure_key(sh: &Shell) -> Result<PathBuf> {
    let dir = crate::cache::cache_dir()?.join("ssh");
    let key = dir.join("id_ed25519");
    if key.is_file() && key.with_extension("pub").is_file() {
        return Ok(key);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _ = std::fs::remove_file(&key);
    cmd!(
        sh,
        "ssh-keygen -q -t ed25519 -N '' -C acalsim-guest -f {key}"
    )
    .quiet()
    .run()
    .with_context(|| {
        format!(
            "making the ssh key {} (needs openssh-client: `cargo xtask doctor --fix`)",
            key.display()
        )
    })?;
    Ok(key)
}

#[derive(Serialize, Deserialize)]
struct State {
    port: u16,
    pid: u32,
}

fn state_path(project: &Project, image: &str) -> PathBuf {
    project.xtask_dir().join("run").join(format!("{image}.ssh"))
}

/// The record of a running `run --ssh` (its port and our pid) that
/// `cargo xtask ssh` reads; removed when dropped.
pub struct PortRecord {
    path: PathBuf,
    pub port: u16,
}

impl PortRecord {
    pub fn start(project: &Project, image: &str, port: u16) -> Result<PortRecord> {
        let path = state_path(project, image);
        if let Ok(old) = read_state(&path) {
            if process_alive(old.pid) {
                bail!(
                    "image `{image}` already runs with --ssh (pid {}, port {}); log in with `cargo xtask ssh {image}`",
                    old.pid,
                    old.port
                );
            }
        }
        let state = State {
            port,
            pid: std::process::id(),
        };
        let text = serde_json::to_string(&state).context("serialising the ssh state")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(PortRecord { path, port })
    }
}

impl Drop for PortRecord {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn read_state(path: &std::path::Path) -> Result<State> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// `cargo xtask ssh`: waits for the guest's sshd, then runs ssh; returns its exit status.
pub fn run(project: &Project, flags: &flags::Ssh) -> Result<i32> {
    // An unknown image is named as such, not as one that is not running.
    let image = project.config()?.image(flags.name.as_deref())?.name.clone();
    let path = state_path(project, &image);
    let state = match read_state(&path) {
        Ok(state) if process_alive(state.pid) => state,
        _ => bail!("no guest of `{image}` is running with ssh; start one with `cargo xtask run {image} --ssh`"),
    };
    wait_for_sshd(state.port, Duration::from_secs(flags.wait))?;
    let key = ensure_key(&project.sh)?;
    let port = state.port.to_string();
    let command = &flags.command;
    let tty = if command.is_empty() { None } else { Some("-T") };
    let ssh = cmd!(
        project.sh,
        "ssh -i {key} -p {port} {tty...} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@127.0.0.1 {command...}"
    );
    let status = std::process::Command::from(ssh)
        .status()
        .context("running ssh (needs openssh-client)")?;
    Ok(status.code().unwrap_or(255))
}

/// QEMU accepts on the forwarded port from the start; the guest's sshd is up
/// once an SSH banner comes back.
fn wait_for_sshd(port: u16, wait: Duration) -> Result<()> {
    let deadline = Instant::now() + wait;
    loop {
        if let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut banner = [0u8; 4];
            if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-" {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "the guest's sshd did not answer on 127.0.0.1:{port} within {}s (--wait)",
                wait.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
