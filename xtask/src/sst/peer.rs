//! `cargo xtask sst peer`: the reference SST side. It answers QEMU's
//! `virtio-sst-device` the way ACALSim's `ACALSimVirtIODeviceComponent` does,
//! without SST:
//!
//! - COMPUTE → OK, `cycles = compute_units × cycles_per_unit` (100 in the
//!   component), `result = cycles`, `timestamp` = the peer's clock;
//! - NOOP → OK; ECHO → OK with the payload back and `result` 4080 (QEMU
//!   answers both itself, but a direct client gets the component's answers);
//! - every other type → INVALID.
//!
//! The clock is simulated time in cycles: it starts at 0 and each COMPUTE
//! advances it by its cycles, so `timestamp` is the cycle at which that
//! request's work ends (the component reports its wall-clock-driven tick
//! instead). Unlike the component, a request that arrives in pieces is
//! assembled before it is answered. Each request becomes one JSON line in
//! the log, flushed as it is written.

use std::fs::File;
use std::io::{self, BufWriter, ErrorKind, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::protocol::{Kind, Request, Response, Status, MAX_DATA, REQUEST_SIZE};
use crate::run::Signals;

/// How often a blocked accept or read looks at the signal flag.
const POLL: Duration = Duration::from_millis(100);

/// What the peer is told to do.
pub struct Options {
    pub socket: PathBuf,
    pub cycles_per_unit: u64,
    /// The JSON-lines request log; `None`: none.
    pub log: Option<PathBuf>,
}

/// The peer's simulated state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub cycle: u64,
    pub requests: u64,
}

/// The answer to `request` and the clock after it.
pub fn answer(request: &Request, clock: Clock, cycles_per_unit: u64) -> (Response, Clock) {
    let mut clock = Clock {
        requests: clock.requests + 1,
        ..clock
    };
    let response = match request.kind {
        Kind::Noop => Response::to(request, Status::Ok),
        Kind::Echo => {
            let mut r = Response::to(request, Status::Ok);
            r.payload.copy_from_slice(&request.payload[..]);
            r.result = MAX_DATA as u64;
            r
        }
        Kind::Compute => {
            // Wrapping, as the component's C multiplication does.
            let cycles = request.compute_units().wrapping_mul(cycles_per_unit);
            clock.cycle = clock.cycle.wrapping_add(cycles);
            let mut r = Response::to(request, Status::Ok);
            r.result = cycles;
            r.set_compute(cycles, clock.cycle);
            r
        }
        _ => Response::to(request, Status::Invalid),
    };
    (response, clock)
}

/// One log line: what was asked and what was answered.
pub fn log_line(clock: Clock, request: &Request, response: &Response) -> String {
    let mut line = serde_json::json!({
        "seq": clock.requests,
        "type": request.kind.name(),
        "type_id": request.kind.to_u32(),
        "request_id": request.request_id,
        "user_data": request.user_data,
        "status": response.status.name(),
    });
    if request.kind == Kind::Compute {
        line["units"] = request.compute_units().into();
        line["latency_model"] = request.latency_model().into();
        line["cycles"] = response.result.into();
        line["timestamp"] = clock.cycle.into();
    }
    line.to_string()
}

/// The COMPUTE requests in a peer's log (`log_line`s) and the cycles it
/// answered them with.
pub fn compute_totals(log: &str) -> (u64, u64) {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "COMPUTE")
        .fold((0, 0), |(n, cycles), v| {
            (n + 1, cycles + v["cycles"].as_u64().unwrap_or(0))
        })
}

/// Listens on the socket and answers one client at a time until SIGTERM,
/// SIGINT or SIGHUP; a client that disconnects makes room for the next, as
/// in the component. The socket file is removed on the way out.
pub fn serve(options: &Options) -> Result<()> {
    let signals = Signals::register()?;
    let listener = listen(&options.socket)?;
    let _unlink = RemoveOnDrop(options.socket.clone());
    let mut log = open_log(options.log.as_deref())?;
    eprintln!(
        "sst peer: listening on {} (pid {}; COMPUTE: {} cycles per unit)",
        options.socket.display(),
        std::process::id(),
        options.cycles_per_unit
    );
    let mut clock = Clock::default();
    while let Some(stream) = accept(&listener, &signals)? {
        eprintln!("sst peer: client connected");
        clock = serve_client(stream, clock, options.cycles_per_unit, &mut log, &signals)?;
        eprintln!(
            "sst peer: client disconnected after {} requests",
            clock.requests
        );
    }
    eprintln!(
        "sst peer: stopping; {} requests, clock at cycle {}",
        clock.requests, clock.cycle
    );
    Ok(())
}

/// Binds `socket`, removing a stale socket file first but nothing else.
fn listen(socket: &Path) -> Result<UnixListener> {
    if let Ok(meta) = std::fs::symlink_metadata(socket) {
        if !meta.file_type().is_socket() {
            bail!(
                "{} exists and is not a socket; refusing to replace it",
                socket.display()
            );
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("removing the stale socket {}", socket.display()))?;
    }
    let listener =
        UnixListener::bind(socket).with_context(|| format!("listening on {}", socket.display()))?;
    listener
        .set_nonblocking(true)
        .context("making the listening socket non-blocking")?;
    Ok(listener)
}

fn open_log(path: Option<&Path>) -> Result<Option<BufWriter<File>>> {
    path.map(|p| {
        File::create(p)
            .map(BufWriter::new)
            .with_context(|| format!("creating the request log {}", p.display()))
    })
    .transpose()
}

/// The next client, or `None` once a signal asks us to stop.
fn accept(listener: &UnixListener, signals: &Signals) -> Result<Option<UnixStream>> {
    loop {
        if signals.caught().is_some() {
            return Ok(None);
        }
        match listener.accept() {
            Ok((stream, _)) => {
                stream
                    .set_nonblocking(false)
                    .and_then(|()| stream.set_read_timeout(Some(POLL)))
                    .context("configuring the client socket")?;
                return Ok(Some(stream));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => return Err(e).context("accepting a client"),
        }
    }
}

/// Answers `stream`'s requests until it disconnects or a signal arrives.
fn serve_client(
    mut stream: UnixStream,
    mut clock: Clock,
    cycles_per_unit: u64,
    log: &mut Option<BufWriter<File>>,
    signals: &Signals,
) -> Result<Clock> {
    let mut buf = [0u8; REQUEST_SIZE];
    while read_request(&mut stream, &mut buf, signals)? {
        let request = Request::decode(&buf);
        let (response, next) = answer(&request, clock, cycles_per_unit);
        clock = next;
        if let Some(log) = log.as_mut() {
            writeln!(log, "{}", log_line(clock, &request, &response))
                .and_then(|()| log.flush())
                .context("writing the request log")?;
        }
        if let Err(e) = stream.write_all(&response.encode()) {
            eprintln!("sst peer: the client went away before its answer: {e}");
            break;
        }
    }
    Ok(clock)
}

/// Fills `buf` with one whole request, however many reads it takes; false
/// when the client closed the connection (or a signal arrived) first.
fn read_request(stream: &mut UnixStream, buf: &mut [u8], signals: &Signals) -> Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match stream.read(&mut buf[filled..]) {
            Ok(0) => {
                if filled > 0 {
                    eprintln!(
                        "sst peer: the client closed mid-request ({filled} of {} bytes)",
                        buf.len()
                    );
                }
                return Ok(false);
            }
            Ok(n) => filled += n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) =>
            {
                if signals.caught().is_some() {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(false),
            Err(e) => return Err(e).context("reading a request"),
        }
    }
    Ok(true)
}

/// Removes the socket file when the peer stops, however it stops.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("sst peer: removing {}: {e}", self.0.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sst::protocol::RESPONSE_SIZE;

    fn request(kind: Kind, units: u64, id: u64) -> Request {
        let mut payload = Box::new([0u8; MAX_DATA]);
        payload[0..8].copy_from_slice(&units.to_le_bytes());
        payload[100] = 0x5a;
        Request {
            kind,
            flags: 0,
            request_id: id,
            user_data: id * 10,
            payload,
        }
    }

    #[test]
    fn compute_answers_units_times_n_and_advances_the_clock() {
        let (r, clock) = answer(&request(Kind::Compute, 1000, 1), Clock::default(), 100);
        assert_eq!(
            (r.status, r.result, r.request_id, r.user_data),
            (Status::Ok, 100_000, 1, 10)
        );
        assert_eq!(
            clock,
            Clock {
                cycle: 100_000,
                requests: 1
            }
        );
        let (r, clock) = answer(&request(Kind::Compute, 7, 2), clock, 3);
        assert_eq!(r.result, 21);
        assert_eq!(
            r.encode()[32..48],
            [21u64.to_le_bytes(), 100_021u64.to_le_bytes()].concat()[..]
        );
        assert_eq!(clock.cycle, 100_021);
    }

    #[test]
    fn other_types_get_the_components_answers() {
        let echo = request(Kind::Echo, 0, 3);
        let (r, clock) = answer(&echo, Clock::default(), 100);
        assert_eq!((r.status, r.result), (Status::Ok, MAX_DATA as u64));
        assert_eq!(r.payload, echo.payload);
        assert_eq!(
            answer(&request(Kind::Noop, 0, 4), clock, 100).0.status,
            Status::Ok
        );
        for kind in [
            Kind::Read,
            Kind::Write,
            Kind::Configure,
            Kind::Reset,
            Kind::GetInfo,
            Kind::Unknown(99),
        ] {
            let (r, after) = answer(&request(kind, 5, 5), clock, 100);
            assert_eq!((r.status, r.result), (Status::Invalid, 0), "{kind:?}");
            assert_eq!(after.cycle, clock.cycle, "{kind:?} moved the clock");
        }
    }

    #[test]
    fn a_log_line_names_the_request_and_its_answer() {
        let req = request(Kind::Compute, 12, 9);
        let (resp, clock) = answer(&req, Clock::default(), 100);
        let line: serde_json::Value = serde_json::from_str(&log_line(clock, &req, &resp)).unwrap();
        assert_eq!(
            line,
            serde_json::json!({"seq": 1, "type": "COMPUTE", "type_id": 2, "request_id": 9,
                "user_data": 90, "status": "OK", "units": 12, "latency_model": 0,
                "cycles": 1200, "timestamp": 1200})
        );
    }

    #[test]
    fn the_totals_count_the_computes_of_a_log_and_their_cycles() {
        let mut clock = Clock::default();
        let mut log = String::new();
        for (kind, units) in [(Kind::Compute, 12), (Kind::Echo, 0), (Kind::Compute, 5)] {
            let req = request(kind, units, 1);
            let (resp, next) = answer(&req, clock, 100);
            clock = next;
            log += &(log_line(clock, &req, &resp) + "\n");
        }
        assert_eq!(compute_totals(&log), (2, 1700));
        assert_eq!(compute_totals(""), (0, 0));
    }

    #[test]
    fn a_request_written_in_pieces_is_answered_whole() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("peer.sock");
        let options = Options {
            socket: socket.clone(),
            cycles_per_unit: 100,
            log: Some(dir.path().join("log.jsonl")),
        };
        let listener = listen(&options.socket).unwrap();
        let client = std::thread::spawn(move || {
            let mut s = UnixStream::connect(&socket).unwrap();
            let bytes = request(Kind::Compute, 42, 1).encode();
            for piece in bytes.chunks(1000) {
                s.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut answer = [0u8; RESPONSE_SIZE];
            s.read_exact(&mut answer).unwrap();
            answer
        });
        let signals = Signals::register().unwrap();
        let stream = accept(&listener, &signals).unwrap().unwrap();
        let mut log = open_log(options.log.as_deref()).unwrap();
        let clock = serve_client(stream, Clock::default(), 100, &mut log, &signals).unwrap();
        let answer = client.join().unwrap();
        assert_eq!(clock.requests, 1);
        assert_eq!(answer[24..32], 4200u64.to_le_bytes());
        drop(log);
        let text = std::fs::read_to_string(dir.path().join("log.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }
}
