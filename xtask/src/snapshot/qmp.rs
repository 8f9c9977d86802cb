//! The few QMP commands a snapshot needs, over QEMU's monitor socket.
//!
//! Hand-written rather than the `qapi` crate: five commands (`stop`,
//! `cont`, `migrate-set-capabilities`, `migrate`/`migrate-incoming`,
//! `query-migrate`) and `quit` are a few JSON lines each, and a typed client
//! would bring every QAPI schema type for them. Events QEMU sends between
//! replies are skipped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

pub struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

/// Where a migration is, from `query-migrate`.
#[derive(Debug, Clone, PartialEq)]
pub enum Migration {
    Running,
    Completed,
    Failed(String),
}

impl Qmp {
    /// Connects to QEMU's `-qmp unix:PATH,server=on,wait=off`, retrying
    /// until `within` has passed (QEMU makes the socket as it starts).
    pub fn connect(path: &Path, within: Duration) -> Result<Qmp> {
        let deadline = Instant::now() + within;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("connecting to QEMU's monitor {}", path.display())
                    })
                }
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .context("setting a timeout on QEMU's monitor socket")?;
        let writer = stream
            .try_clone()
            .context("cloning QEMU's monitor socket")?;
        let mut qmp = Qmp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = qmp.read_message()?;
        if greeting.get("QMP").is_none() {
            bail!("QEMU's monitor did not greet with QMP: {greeting}");
        }
        qmp.execute("qmp_capabilities", json!({}))?;
        Ok(qmp)
    }

    /// Runs `command` and returns its `return` value, or QEMU's error.
    pub fn execute(&mut self, command: &str, arguments: Value) -> Result<Value> {
        let request = json!({"execute": command, "arguments": arguments});
        writeln!(self.writer, "{request}")
            .with_context(|| format!("sending `{command}` to QEMU's monitor"))?;
        loop {
            let message = self.read_message()?;
            if message.get("event").is_some() {
                continue;
            }
            if let Some(value) = message.get("return") {
                return Ok(value.clone());
            }
            let why = message["error"]["desc"]
                .as_str()
                .unwrap_or("no reason given");
            bail!("QEMU refused `{command}`: {why}");
        }
    }

    /// Turns on `mapped-ram`: RAM at fixed offsets of a file, written and
    /// read without a stream (QEMU 9.0+); both ends must set it.
    pub fn use_mapped_ram(&mut self) -> Result<()> {
        self.execute(
            "migrate-set-capabilities",
            json!({"capabilities": [{"capability": "mapped-ram", "state": true}]}),
        )
        .map(|_| ())
    }

    /// `query-migrate`'s status.
    pub fn migration(&mut self) -> Result<Migration> {
        let info = self.execute("query-migrate", json!({}))?;
        Ok(match info["status"].as_str().unwrap_or("none") {
            "completed" => Migration::Completed,
            "failed" | "cancelled" => Migration::Failed(
                info["error-desc"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_string(),
            ),
            _ => Migration::Running,
        })
    }

    /// Polls [`Qmp::migration`] until it ends; `keep_going` is asked between
    /// polls and stops the wait with its error (a signal, a deadline).
    pub fn wait_for_migration(&mut self, mut keep_going: impl FnMut() -> Result<()>) -> Result<()> {
        loop {
            match self.migration()? {
                Migration::Completed => return Ok(()),
                Migration::Failed(why) => bail!("the migration failed: {why}"),
                Migration::Running => keep_going()?,
            }
            // A restore loads in a tenth of a second: poll finely.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// [`Qmp::wait_for_migration`], given up once `qemu_done` says QEMU has
    /// exited (`doing`: what it was doing, for the error).
    pub fn wait_while_qemu_runs(&mut self, qemu_done: &AtomicBool, doing: &str) -> Result<()> {
        self.wait_for_migration(|| {
            if qemu_done.load(Ordering::SeqCst) {
                bail!("QEMU exited while {doing}");
            }
            Ok(())
        })
    }

    fn read_message(&mut self) -> Result<Value> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .context("reading QEMU's monitor")?;
        if n == 0 {
            return Err(anyhow!("QEMU closed its monitor (did it exit?)"));
        }
        serde_json::from_str(&line)
            .with_context(|| format!("QEMU's monitor sent `{}`", line.trim()))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixListener;

    use super::*;

    /// A monitor that greets, then answers each request with the next reply
    /// (after an event, which the client must skip).
    fn fake_monitor(
        path: &Path,
        replies: Vec<&'static str>,
    ) -> std::thread::JoinHandle<Vec<String>> {
        let listener = UnixListener::bind(path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut out = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream).lines();
            writeln!(out, r#"{{"QMP": {{"version": {{}}, "capabilities": []}}}}"#).unwrap();
            let mut seen = vec![];
            for reply in std::iter::once(r#"{"return": {}}"#).chain(replies) {
                let Some(Ok(request)) = lines.next() else {
                    break;
                };
                seen.push(request);
                writeln!(out, r#"{{"event": "STOP", "timestamp": {{}}}}"#).unwrap();
                writeln!(out, "{reply}").unwrap();
            }
            seen
        })
    }

    #[test]
    fn commands_skip_events_and_errors_carry_qemus_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let monitor = fake_monitor(
            &path,
            vec![
                r#"{"return": {}}"#,
                r#"{"return": {"status": "active"}}"#,
                r#"{"return": {"status": "completed"}}"#,
                r#"{"error": {"class": "GenericError", "desc": "Migration is disabled when VirtFS export path '/x' is mounted"}}"#,
            ],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        qmp.use_mapped_ram().unwrap();
        let mut polls = 0;
        qmp.wait_for_migration(|| {
            polls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(polls, 1);
        let e = qmp
            .execute("migrate", json!({"uri": "file:/x"}))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("QEMU refused `migrate`: Migration is disabled"),
            "{e}"
        );
        drop(qmp);
        let seen = monitor.join().unwrap();
        assert!(seen[0].contains("qmp_capabilities"), "{seen:?}");
        assert!(seen[1].contains(r#""capability":"mapped-ram""#), "{seen:?}");
        assert!(seen[2].contains("query-migrate"), "{seen:?}");
    }

    #[test]
    fn a_failed_migration_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let _monitor = fake_monitor(
            &path,
            vec![r#"{"return": {"status": "failed", "error-desc": "no space left"}}"#],
        );
        let mut qmp = Qmp::connect(&path, Duration::from_secs(5)).unwrap();
        let e = qmp.wait_for_migration(|| Ok(())).unwrap_err().to_string();
        assert!(e.contains("no space left"), "{e}");
    }
}
