//! `cargo xtask cosim`, for real: the project's QEMU with ACALSim's device,
//! the e2e-cosim image with ACALSim's driver, and the reference SST peer
//! (`cargo xtask sst peer`) as the SST side, started and stopped by the
//! session. The faults end within seconds, name their cause and leave no
//! process and no socket behind.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tests::cosim::*;
use tests::*;

/// `cosim e2e-cosim ARGS -- true`, which must fail within 20 s; its stderr.
fn failing_session(args: &[&str]) -> String {
    let started = Instant::now();
    let argv: Vec<&str> = ["cosim", "e2e-cosim"]
        .iter()
        .chain(args)
        .chain(&["--", "true"])
        .copied()
        .collect();
    let out = xtask(&e2e_config(), &argv);
    let err = stderr(&out);
    assert!(!out.status.success(), "cosim {args:?} succeeded:\n{err}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(20),
        "cosim {args:?} took {took:?}"
    );
    err
}

/// A `cosim` started in its own process group, SIGKILLed with its group
/// if the test fails before it ends, so a failure leaves nothing running.
struct Session(std::process::Child);

impl Session {
    /// `cargo xtask ARGS` with the e2e config, stdout and stderr piped.
    fn start(args: &[&str]) -> Session {
        let child = Command::new(xtask_bin())
            .arg("--config")
            .arg(e2e_config())
            .args(args)
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("starting cosim");
        Session(child)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on the process group of our own child.
            unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }
}

/// Processes whose command line contains `needle` (arguments joined by spaces).
fn processes_with(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) || pid == me {
            continue;
        }
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push(format!("{pid}: {cmdline}"));
        }
    }
    found
}

/// Nothing of a session is left: no QEMU with the device, no SST peer.
fn assert_nothing_left(what: &str) {
    // A process that was just signalled may take a moment to be reaped.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<String> = ["virtio-sst-device", "sst peer --socket", "sleep 1234"]
            .iter()
            .flat_map(|n| processes_with(n))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: left running: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The socket the session reported (`the SST side listens on PATH`).
fn reported_socket(stderr: &str) -> PathBuf {
    let line = stderr
        .lines()
        .find(|l| l.contains("the SST side listens on "))
        .unwrap_or_else(|| panic!("no `listens on` line:\n{stderr}"));
    let rest = line.split("listens on ").nth(1).unwrap();
    PathBuf::from(rest.split(" (").next().unwrap())
}

/// `--sst` for the reference peer writing its requests to `log`.
fn peer_logging_to(log: &Path) -> String {
    format!(
        "{} sst peer --socket {{socket}} --log {}",
        xtask_bin().display(),
        log.display()
    )
}

fn peer_log(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}` is not JSON: {e}")))
        .collect()
}

#[test]
fn a_thousand_computes_go_through_the_reference_peer_and_the_status_is_the_guests() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let job = "python3 /mnt/scripts/sst/sst_compute.py --count 1000 --peer-clock && exit 7";
    let started = Instant::now();
    let out = xtask(
        &e2e_config(),
        &["cosim", "e2e-cosim", "--", "sh", "-c", job],
    );
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(7),
        "the exit status is not the guest job's:\n{stdout}\n{err}"
    );
    assert!(stdout.contains("sst compute: ok"), "{stdout}\n{err}");
    eprintln!("the session took {secs:.1}s; the guest said:\n{stdout}");

    // The ids the guest saw, e.g. `request_id 1..1000`.
    let ids = stdout
        .split("request_id ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|r| r.split_once(".."))
        .map(|(a, b)| (a.parse::<u64>().unwrap(), b.parse::<u64>().unwrap()))
        .unwrap_or_else(|| panic!("no request_id range in:\n{stdout}"));
    assert_eq!(ids.1 - ids.0, 999, "{stdout}");

    let folder = run_folder(&out);
    let log = peer_log(&folder.join("peer.jsonl"));
    assert_eq!(
        log.len(),
        1000,
        "the peer logged {} requests, not 1000",
        log.len()
    );
    let mut clock = 0u64;
    for (i, line) in log.iter().enumerate() {
        let i = i as u64;
        let units = 1 + (i * 7919) % 65536;
        clock += units * 100;
        let want = serde_json::json!({
            "seq": i + 1, "type": "COMPUTE", "type_id": 2, "request_id": ids.0 + i,
            "user_data": i, "status": "OK", "units": units, "latency_model": 0,
            "cycles": units * 100, "timestamp": clock,
        });
        assert_eq!(line, &want, "request {i} of the peer's log");
    }

    let socket = reported_socket(&err);
    assert!(!socket.exists(), "{} was left behind", socket.display());
    assert!(
        !socket.parent().unwrap().exists(),
        "the session's directory was left behind"
    );
    assert!(
        err.contains("the SST side stopped (exited with status 0"),
        "{err}"
    );
    // The SST side is named by its real command line, each log on its own line.
    assert!(
        err.contains(&format!(
            " sst peer --socket {} --cycles-per-unit 100 --log {}/peer.jsonl\n",
            socket.display(),
            folder.display()
        )) && err.contains(&format!(
            "cosim: its output goes to {}/sst.log\n",
            folder.display()
        )),
        "{err}"
    );
    // The summary line counts the peer's COMPUTEs and their cycles.
    let cycles: u64 = (0..1000u64).map(|i| (1 + (i * 7919) % 65536) * 100).sum();
    let summary = err.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("exit 7 in ")
            && summary.contains(&format!("; 1000 COMPUTEs, {cycles} cycles); run folder: ")),
        "{err}"
    );
    let record = run_record(&folder);
    assert_eq!(record["sst"]["computes"], 1000, "{record}");
    assert_eq!(record["sst"]["ended"], "exited with status 0", "{record}");
    assert_nothing_left("after a session");
}

#[test]
fn an_sst_side_that_exits_at_once_or_never_listens_ends_the_session_in_seconds() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let err = failing_session(&[
        "--sst",
        "echo 'Error: no such element acalsim.VirtIODevice' >&2; exit 3",
    ]);
    assert!(
        err.contains("exited with status 3 before it listened on")
            && err.contains("  Error: no such element acalsim.VirtIODevice")
            && err.contains("/sst.log"),
        "{err}"
    );

    let err = failing_session(&["--sst", "sleep 1234", "--listen-timeout", "2"]);
    assert!(
        err.contains("`sleep 1234` did not listen on")
            && err.contains("within 2s")
            && err.contains("--socket PATH"),
        "{err}"
    );
    assert_nothing_left("after an SST side that never listened");

    // A directory nobody may create files in, even root.
    let err = failing_session(&["--socket", "/proc/acalsim-test.sock"]);
    assert!(
        err.contains("cannot create files in /proc") && err.contains("writable directory"),
        "{err}"
    );
    assert!(
        !err.contains("started the SST side"),
        "something was started:\n{err}"
    );
}

#[test]
fn an_sst_side_killed_mid_run_ends_the_session_non_zero_and_the_guest_sees_no_device() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("peer.jsonl");
    let sst = peer_logging_to(&log);
    let mut session = Session::start(&[
        "cosim",
        "e2e-cosim",
        "--sst",
        &sst,
        "--",
        "python3",
        "/mnt/scripts/sst/sst_compute.py",
        "--count",
        "100000000",
    ]);
    let child = &mut session.0;
    let deadline = Instant::now() + Duration::from_secs(300);
    while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 50 {
        assert!(
            Instant::now() < deadline,
            "the peer never logged 50 requests"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "cosim ended before 50 requests"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let peers: Vec<String> = processes_with(&format!("--log {}", log.display()))
        .into_iter()
        .filter(|p| !p.contains(" cosim "))
        .collect();
    assert_eq!(peers.len(), 1, "{peers:?}");
    let pid: i32 = peers[0].split(':').next().unwrap().parse().unwrap();
    // SAFETY: kill(2) on the peer process found above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let killed = Instant::now();
    let status =
        wait_or_kill(child, Duration::from_secs(60)).expect("cosim did not end after the kill");
    let (mut stdout, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(!status.success(), "{stdout}\n{err}");
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "took {:?} after the kill",
        killed.elapsed()
    );
    assert!(
        stdout.contains("status NO_DEVICE (status 5)"),
        "the guest did not see NO_DEVICE:\n{stdout}"
    );
    assert!(
        err.contains("was killed by signal 9 while the guest was running")
            && err.contains("/sst.log"),
        "{err}"
    );
    let socket = reported_socket(&err);
    assert!(!socket.exists(), "{} was left behind", socket.display());
    assert_nothing_left("after the SST side was killed");
}

#[test]
fn ctrl_c_during_the_boot_stops_the_guest_and_the_sst_side() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let mut session = Session::start(&["cosim", "e2e-cosim", "--", "sleep", "300"]);
    let child = &mut session.0;
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let pipe = child.stderr.take().unwrap();
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = seen.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !seen.lock().unwrap().contains("booting the guest") {
        assert!(
            Instant::now() < deadline,
            "no boot began:\n{}",
            seen.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // QEMU is starting the kernel now.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !processes_with("virtio-sst-device").is_empty(),
        "QEMU is not running"
    );
    interrupt_group(child);
    let interrupted = Instant::now();
    let status =
        wait_or_kill(child, Duration::from_secs(30)).expect("cosim did not stop on Ctrl-C");
    reader.join().unwrap();
    let err = seen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        interrupted.elapsed() < Duration::from_secs(15),
        "took {:?}",
        interrupted.elapsed()
    );
    let socket = reported_socket(&err);
    assert!(!socket.exists(), "{} was left behind", socket.display());
    assert_nothing_left("after Ctrl-C");
}

/// `cosim --warm`: the first session saves the guest (its QEMU talks to a
/// stand-in socket, so the SST side sees no client but the restored one),
/// the second restores it; both guests reload ACALSim's driver and their
/// COMPUTEs reach that session's own peer, whose log holds exactly them.
/// Each socket sits in a directory whose name has a space and a `$`, and
/// reaches the peer whole through `{socket}`: as a word of a plain command
/// (first) and inside a shell command's double quotes (second).
#[test]
fn warm_sessions_reload_the_driver_and_talk_only_to_their_own_sst_side() {
    let _lock = build_lock();
    ensure_cosim_ready();
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("sst dir $HOME");
    std::fs::create_dir(&odd).unwrap();
    let mut said = Vec::new();
    for round in ["first", "second"] {
        let log = dir.path().join(format!("{round}.jsonl"));
        let socket = odd.join(format!("{round}.sock"));
        let sst = match round {
            "first" => peer_logging_to(&log),
            _ => format!(
                "cd / && exec {} sst peer --socket \"{{socket}}\" --log {}",
                xtask_bin().display(),
                log.display()
            ),
        };
        let out = xtask(
            &e2e_config(),
            &[
                "cosim",
                "e2e-cosim",
                "--warm",
                "--socket",
                socket.to_str().unwrap(),
                "--sst",
                &sst,
                "--",
                "python3",
                "/mnt/scripts/sst/sst_compute.py",
                "--count",
                "50",
                "--peer-clock",
            ],
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let err = stderr(&out);
        assert!(
            out.status.success() && stdout.contains("sst compute: ok"),
            "{round} warm session:\n{stdout}\n{err}"
        );
        assert!(
            err.contains("warm: restored snapshot"),
            "{round} warm session did not restore:\n{err}"
        );
        assert_eq!(
            reported_socket(&err),
            socket,
            "{round}: the peer listened elsewhere"
        );
        let requests = peer_log(&log);
        assert_eq!(requests.len(), 50, "{round} session's peer log");
        assert_eq!(requests[0]["seq"], 1, "{round}: {}", requests[0]);
        said.push(err);
        assert_nothing_left("after a warm session");
    }
    let saves = said.iter().filter(|e| e.contains("warm: saved")).count();
    assert!(
        saves <= 1 && !said[1].contains("warm: saved"),
        "the second session saved again:\n{}",
        said[1]
    );
}
