//! The control port between a warm run and `acalsim-zygote` in the guest: a
//! virtio-serial port `acalsim.control` on a unix socket the host listens
//! on, one JSON line each way. The guest says `ready` (or `failed`) before
//! the snapshot; every restore answers with the `job`.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::run::machine::Port;

pub const PORT: &str = "acalsim.control";

/// What the guest said before its snapshot.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Ready {
    pub modules: Vec<String>,
    pub import_secs: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum GuestSays {
    Ready(Ready),
    Failed(String),
}

/// What every restore hands the waiting guest.
#[derive(Debug, Serialize)]
pub struct Job<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    /// The host's wall clock, which the guest takes as its own.
    pub time_ns: u64,
    /// Mixed into the guest's random pool, which is then rekeyed.
    pub seed: String,
}

/// Listens on `dir/control.sock`; the port QEMU connects it to.
pub fn bind(dir: &Path) -> Result<(Port, UnixListener)> {
    let socket = dir.join("control.sock");
    let listener = UnixListener::bind(&socket)
        .with_context(|| format!("listening on {}", socket.display()))?;
    listener
        .set_nonblocking(true)
        .context("making the control socket non-blocking")?;
    Ok((
        Port {
            name: PORT.into(),
            socket,
        },
        listener,
    ))
}

/// QEMU's connection to the control socket (made as it starts).
pub fn accept(listener: &UnixListener, qemu_done: &AtomicBool) -> Result<UnixStream> {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .context("the control connection")?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if qemu_done.load(Ordering::SeqCst) {
                    bail!("QEMU exited before it connected the control port");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).context("accepting QEMU's control connection"),
        }
    }
}

/// Waits for the guest's line before the snapshot.
pub fn wait_ready(stream: &UnixStream) -> Result<Ready> {
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .context("reading the guest's control port")?;
    if line.is_empty() {
        bail!("the guest closed its control port before it was ready (see the boot log)");
    }
    parse_guest_line(&line)
}

fn parse_guest_line(line: &str) -> Result<Ready> {
    let says: GuestSays = serde_json::from_str(line.trim())
        .with_context(|| format!("the guest's control port said `{}`", line.trim()))?;
    match says {
        GuestSays::Ready(ready) => Ok(ready),
        GuestSays::Failed(why) => Err(anyhow!("the guest's warm-up failed: {why}")),
    }
}

/// Sends the job, with the clock and fresh randomness, as one line.
pub fn send_job(mut stream: &UnixStream, argv: &[String], env: &[(String, String)]) -> Result<()> {
    let line = job_line(argv, env, SystemTime::now(), &host_random()?)?;
    stream
        .write_all(line.as_bytes())
        .context("handing the job to the restored guest")
}

fn job_line(
    argv: &[String],
    env: &[(String, String)],
    now: SystemTime,
    seed: &[u8],
) -> Result<String> {
    let job = Job {
        argv,
        env,
        time_ns: now
            .duration_since(UNIX_EPOCH)
            .context("the host clock is before 1970")?
            .as_nanos() as u64,
        seed: seed.iter().map(|b| format!("{b:02x}")).collect(),
    };
    let mut line = serde_json::json!({ "job": job }).to_string();
    line.push('\n');
    Ok(line)
}

fn host_random() -> Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .context("reading /dev/urandom")?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_says_ready_with_its_import_time_or_why_it_failed() {
        let ready =
            parse_guest_line(r#"{"ready": {"modules": ["torch"], "import_secs": 23.5}}"#).unwrap();
        assert_eq!(
            ready,
            Ready {
                modules: vec!["torch".into()],
                import_secs: 23.5
            }
        );
        let e = parse_guest_line(
            r#"{"failed": "import torch: ModuleNotFoundError: No module named 'torch'"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("warm-up failed: import torch: ModuleNotFoundError"),
            "{e}"
        );
        assert!(parse_guest_line("garbage")
            .unwrap_err()
            .to_string()
            .contains("`garbage`"));
    }

    #[test]
    fn the_job_line_carries_argv_env_clock_and_seed_as_the_zygote_reads_them() {
        let argv = vec!["python3".to_string(), "-c".into(), "print('it''s')".into()];
        let env = vec![("A".to_string(), "b c".to_string())];
        let at = UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
        let line = job_line(&argv, &env, at, &[0xab, 0x01]).unwrap();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["job"]["argv"][2], "print('it''s')");
        assert_eq!(v["job"]["env"][0], serde_json::json!(["A", "b c"]));
        assert_eq!(v["job"]["time_ns"], 1_700_000_000_123_456_789u64);
        assert_eq!(v["job"]["seed"], "ab01");
        assert_ne!(host_random().unwrap(), host_random().unwrap());
    }
}
