//! The guest's streams on their way out: QEMU connects each socket of a
//! headless run, and a thread per socket passes what comes on. The serial
//! console goes to the boot log (and the tail kept for error messages),
//! the job's stdout port to the caller's sink or our stdout, its stderr
//! port to our stderr; QEMU's own stderr goes to the boot log.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::net::UnixListener;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use super::machine::Port;

/// Where a headless job's stdout goes: the terminal, or a caller's sink
/// (`pytorch build` reads ninja's progress from it).
pub type StdoutSink = Box<dyn FnMut(&[u8]) + Send>;

/// The serial console: into the boot log and the tail kept for errors, and
/// to stderr with `--console`.
pub fn forward_console(
    listener: UnixListener,
    qemu_done: &Arc<AtomicBool>,
    tail: &Arc<Mutex<Tail>>,
    log: &Arc<Mutex<File>>,
    show_console: bool,
) -> JoinHandle<()> {
    let (tail, log) = (Arc::clone(tail), Arc::clone(log));
    forward_socket(listener, Arc::clone(qemu_done), move |bytes| {
        tail.lock().map(|mut t| t.push(bytes)).ok();
        log.lock().map(|mut l| l.write_all(bytes)).ok();
        if show_console {
            let _ = io::stderr().write_all(bytes);
        }
    })
}

/// The job's stdout port to the sink (else our stdout, flushed as it comes),
/// its stderr port to our stderr.
pub fn forward_ports(
    ports: Vec<(Port, UnixListener)>,
    qemu_done: &Arc<AtomicBool>,
    mut stdout_sink: Option<StdoutSink>,
) -> Vec<JoinHandle<()>> {
    let mut forwarders = Vec::new();
    for (port, listener) in ports {
        let to_stdout = port.name.ends_with("stdout");
        let mut sink = if to_stdout { stdout_sink.take() } else { None };
        forwarders.push(forward_socket(
            listener,
            Arc::clone(qemu_done),
            move |bytes| {
                let _ = if let Some(sink) = sink.as_mut() {
                    sink(bytes);
                    Ok(())
                } else if to_stdout {
                    let mut out = io::stdout().lock();
                    out.write_all(bytes).and_then(|_| out.flush())
                } else {
                    io::stderr().write_all(bytes)
                };
            },
        ));
    }
    forwarders
}

/// QEMU's stderr, read to its end on a thread and appended to the boot
/// log; a line the user must see at once ([`said_at_once`]) goes to our
/// stderr as it comes.
pub fn collect_stderr(child: &mut Child, log: &Arc<Mutex<File>>) -> Result<JoinHandle<String>> {
    let pipe = child.stderr.take().context("QEMU's stderr pipe")?;
    let log = Arc::clone(log);
    Ok(std::thread::spawn(move || {
        let mut text = String::new();
        let mut lines = io::BufReader::new(pipe);
        let mut line = String::new();
        while lines.read_line(&mut line).is_ok_and(|n| n > 0) {
            if let Some(warning) = said_at_once(&line) {
                eprintln!("{warning}");
            }
            text.push_str(&line);
            line.clear();
        }
        log.lock()
            .map(|mut l| l.write_all(format!("\n[QEMU stderr]\n{text}").as_bytes()))
            .ok();
        text
    }))
}

/// A QEMU stderr line that changes what the run means, as said on the
/// terminal: ACALSim's device that found nothing on its socket (it only
/// logs that, and then answers every request NO_DEVICE).
pub fn said_at_once(line: &str) -> Option<String> {
    let (_, what) = line.split_once("VirtIO SST: Warning - ")?;
    if !what.starts_with("Failed to connect to SST") {
        return None;
    }
    Some(format!(
        "warning: QEMU's SST device: {}\n  \
         every request the guest makes on /dev/sst0 will fail (NO_DEVICE): start the SST side \
         on that socket before the run, or let `cargo xtask cosim` start both",
        what.trim()
    ))
}

/// Accepts QEMU's connection on `listener` and feeds everything it sends to
/// `sink` until QEMU closes it. Gives up waiting once QEMU has exited.
fn forward_socket(
    listener: UnixListener,
    qemu_done: Arc<AtomicBool>,
    mut sink: impl FnMut(&[u8]) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && !qemu_done.load(Ordering::SeqCst) =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(_) => return,
            }
        };
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let mut buf = [0u8; 8192];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink(&buf[..n]);
        }
    })
}

/// The last 64 KiB of the console, for error messages.
#[derive(Default)]
pub struct Tail(Vec<u8>);

impl Tail {
    const KEEP: usize = 64 << 10;
    pub fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > 2 * Self::KEEP {
            self.0.drain(..self.0.len() - Self::KEEP);
        }
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).replace('\r', "")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;

    use super::*;

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::default();
        for _ in 0..300 {
            t.push(&[b'x'; 1024]);
        }
        t.push(b"Kernel panic - not syncing\r\n");
        assert!(t.0.len() <= 2 * Tail::KEEP);
        assert!(t.text().ends_with("Kernel panic - not syncing\n"));
    }

    #[test]
    fn forward_socket_passes_everything_on_and_gives_up_once_qemu_is_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        let done = Arc::new(AtomicBool::new(false));
        let forwarder = forward_socket(listener, Arc::clone(&done), move |b| {
            sink.lock().unwrap().extend_from_slice(b)
        });
        UnixStream::connect(&path)
            .unwrap()
            .write_all(b"guest output")
            .unwrap();
        forwarder.join().unwrap();
        assert_eq!(&*got.lock().unwrap(), b"guest output");

        // Nobody connects: the forwarder ends once QEMU has exited.
        let listener = UnixListener::bind(dir.path().join("t.sock")).unwrap();
        listener.set_nonblocking(true).unwrap();
        done.store(true, Ordering::SeqCst);
        forward_socket(listener, done, |_| {}).join().unwrap();
    }

    #[test]
    fn only_the_sst_devices_connection_warning_is_said_at_once() {
        let line = "VirtIO SST: Warning - Failed to connect to SST at /tmp/x.sock: No such file or directory\n";
        let said = said_at_once(line).unwrap();
        assert!(said.starts_with(
            "warning: QEMU's SST device: Failed to connect to SST at /tmp/x.sock: No such file or directory\n"
        ), "{said}");
        assert!(
            said.contains("NO_DEVICE") && said.contains("cargo xtask cosim"),
            "{said}"
        );
        assert_eq!(
            said_at_once("qemu-system-riscv64: terminating on signal 15\n"),
            None
        );
    }
}
