//! End-to-end: `cargo xtask run` boots the real e2e-python image (Debian sid
//! riscv64, real kernel) in real QEMU and the tests check what the guest did:
//! output and exit status of headless jobs, timeouts and Ctrl-C with nothing
//! left behind, the 9p share, --persist against snapshots, the initramfs
//! mode, the full systemd boot, ssh on loopback, a kernel panic, and the
//! ACALSim device check.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tests::{
    build_lock, ensure_built, image_dir, interrupt_group, root, run_folder, run_record, stderr,
    wait_or_kill, xtask, xtask_bin,
};

fn config() -> PathBuf {
    root().join("tests/configs/e2e.toml")
}

const IMAGE: &str = "e2e-python";

/// `cargo xtask run ARGS` against the e2e image; prints what it said.
fn run(args: &[&str]) -> Output {
    let started = Instant::now();
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    let out = xtask(&config(), &all);
    eprintln!(
        "--- stdout ({:.1}s) ---\n{}",
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// QEMU processes whose command line mentions `needle`.
fn qemu_processes(needle: &str) -> Vec<String> {
    let ps = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .expect("running ps");
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|l| l.contains("qemu-system-riscv64") && l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Run directories that were not there `before` and whose owner has exited:
/// leaks. (Other runs on the machine may come and go meanwhile; a live
/// owner's directory is not ours to judge.)
fn new_run_dirs(before: &[PathBuf]) -> Vec<PathBuf> {
    let owner_alive = |d: &PathBuf| {
        std::fs::read_to_string(d.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
    };
    run_dirs()
        .into_iter()
        .filter(|d| !before.contains(d) && !owner_alive(d))
        .collect()
}

fn run_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(std::env::temp_dir())
        .expect("listing the temp dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("acalsim-run-"))
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn headless_job_returns_output_streams_and_exit_status() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let out = run(&[
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo to-stdout; echo to-stderr >&2; cat /etc/hostname; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "to-stdout\ne2e-python\n");
    assert!(stderr(&out).contains("to-stderr"), "{}", stderr(&out));

    let out = run(&[IMAGE, "--", "echo", "hello  'world'"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello  'world'\n", "arguments arrive whole");

    // --json: the summary is the last line of stdout, after the command's output.
    let out = run(&[IMAGE, "--json", "--", "sh", "-c", "echo out; exit 1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    let (first, last) = text.trim_end().split_once('\n').expect("two lines");
    assert_eq!(first, "out");
    let summary: serde_json::Value = serde_json::from_str(last).expect("the summary is JSON");
    assert_eq!(summary["end"]["status"], 1, "{summary}");
    assert_eq!(summary["end"]["how"], "exited", "{summary}");
    assert_eq!(summary["image"], IMAGE, "{summary}");
    assert!(!stderr(&out).contains("run folder:"), "{}", stderr(&out));
}

#[test]
fn every_run_has_a_folder_with_its_logs_record_and_a_summary_line() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let out = run(&[IMAGE, "--", "sh", "-c", "echo hi; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let summary = err.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("exit 3 in ")
            && summary.contains(" s (boot ")
            && summary.contains(" s, job "),
        "{err}"
    );
    let folder = run_folder(&out);
    assert!(
        folder.starts_with(root().join("target/xtask/runs"))
            && folder.to_string_lossy().ends_with(IMAGE),
        "{}",
        folder.display()
    );
    let boot_log = std::fs::read_to_string(folder.join("boot.log")).expect("boot.log");
    assert!(
        boot_log.starts_with("# qemu: ") && boot_log.contains("Linux version"),
        "{boot_log}"
    );
    let record = run_record(&folder);
    assert_eq!(
        record["command"],
        serde_json::json!(["sh", "-c", "echo hi; exit 3"])
    );
    assert_eq!(record["end"]["status"], 3, "{record}");
    let qemu = record["qemu"]["path"]
        .as_str()
        .expect("qemu.path")
        .to_string();
    assert!(
        record["qemu_command"].as_str().unwrap().starts_with(&qemu),
        "{record}"
    );
    assert_eq!(
        record["qemu"]["sha256"].as_str().map(str::len),
        Some(64),
        "{record}"
    );
    assert!(
        record["qemu"]["version"]
            .as_str()
            .unwrap()
            .contains("QEMU emulator version"),
        "{record}"
    );
    let (boot, job, total) = (
        record["end"]["start_secs"].as_f64().expect("start_secs"),
        record["end"]["job_secs"].as_f64().expect("job_secs"),
        record["end"]["total_secs"].as_f64().expect("total_secs"),
    );
    assert!(boot > 0.0 && job > 0.0 && boot + job <= total, "{record}");
    assert!(
        !folder.join("pid").exists(),
        "the ended run still marks its folder as running"
    );
    assert!(root().join("target/xtask/runs/latest/run.json").exists());
}

#[test]
fn timeout_kills_the_guest_and_leaves_nothing() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let before = run_dirs();
    // --timeout counts from the command's start: the boot does not eat it.
    let out = run(&[
        IMAGE,
        "--timeout",
        "4",
        "--",
        "sh",
        "-c",
        "echo start; sleep 1000",
    ]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "start\n",
        "the command started before its timeout ran out"
    );
    assert!(
        stderr(&out).contains("the command ran for 4 s, its --timeout (counted from its start"),
        "{}",
        stderr(&out)
    );
    let end = &run_record(&run_folder(&out))["end"];
    assert_eq!(end["how"], "timeout", "{end}");
    assert!(end["job_secs"].as_f64().is_some_and(|j| j >= 4.0), "{end}");
    // A boot that does not reach the command in time has its own limit and message.
    let out = run(&[IMAGE, "--boot-timeout", "1", "--", "true"]);
    assert_eq!(out.status.code(), Some(124), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "the guest did not start the command within 1 s of QEMU's start (--boot-timeout)"
        ),
        "{}",
        stderr(&out)
    );
    let end = &run_record(&run_folder(&out))["end"];
    assert_eq!(
        (&end["how"], &end["start_secs"]),
        (&serde_json::json!("boot timeout"), &serde_json::Value::Null),
        "{end}"
    );
    assert!(
        qemu_processes(&image_dir(IMAGE).to_string_lossy()).is_empty(),
        "QEMU survived the timeout"
    );
    assert_eq!(
        new_run_dirs(&before),
        Vec::<PathBuf>::new(),
        "the run's temporary directory was left behind"
    );
}

/// `run NAME --share SHARE [EXTRA] -- sh -c 'touch started; sleep 1000'` in
/// its own process group, returned once the job really runs in the guest.
fn start_sleeping_job(name: &str, share: &Path, extra: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(xtask_bin())
        .arg("--config")
        .arg(config())
        .args(["run", name, "--share"])
        .arg(share)
        .args(extra)
        .args(["--", "sh", "-c", "touch started; sleep 1000"])
        .current_dir(root())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !share.join("started").exists() {
        if Instant::now() >= deadline {
            wait_or_kill(&mut child, Duration::ZERO);
            panic!("the job did not start within 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child
}

#[test]
fn ctrl_c_stops_the_guest_and_leaves_nothing() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let share = tempfile::tempdir().unwrap();
    let before = run_dirs();
    let mut child = start_sleeping_job(IMAGE, share.path(), &[]);
    interrupt_group(&mut child);
    let status = wait_or_kill(&mut child, Duration::from_secs(30))
        .expect("run did not stop within 30 s of SIGINT");
    assert_eq!(status.code(), Some(130), "Ctrl-C exits with 128 + SIGINT");
    assert!(
        qemu_processes(&image_dir(IMAGE).to_string_lossy()).is_empty(),
        "QEMU survived Ctrl-C"
    );
    assert_eq!(
        new_run_dirs(&before),
        Vec::<PathBuf>::new(),
        "the run's temporary directory was left behind"
    );
}

#[test]
fn sigkill_of_xtask_takes_qemu_with_it_and_the_next_run_cleans_up() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let share = tempfile::tempdir().unwrap();
    let before = run_dirs();
    let mut child = start_sleeping_job(IMAGE, share.path(), &[]);
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !qemu_processes(&image_dir(IMAGE).to_string_lossy()).is_empty() {
        assert!(Instant::now() < deadline, "QEMU outlived its killed parent");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Nothing could remove the run directory; the next run does.
    let stale = new_run_dirs(&before);
    assert_eq!(stale.len(), 1, "the killed run's directory: {stale:?}");
    let out = run(&[IMAGE, "--", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stale[0].exists(),
        "the stale run directory {} was not cleaned up",
        stale[0].display()
    );
    assert_eq!(
        new_run_dirs(&before),
        Vec::<PathBuf>::new(),
        "the next run left its own directory behind"
    );
}

#[test]
fn guest_writes_reach_the_host_share_and_scripts_are_read_only() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let share = tempfile::tempdir().unwrap();
    std::fs::write(share.path().join("input.txt"), "from the host\n").unwrap();
    let job = "cat input.txt; pwd; uname -m > from-guest.txt; \
               touch /mnt/scripts/x 2>/dev/null && echo scripts-writable || echo scripts-read-only; \
               test -f /mnt/scripts/torch_check.py && echo scripts-present";
    let out = run(&[
        IMAGE,
        "--share",
        share.path().to_str().unwrap(),
        "--",
        "sh",
        "-c",
        job,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "from the host\n/mnt/share\nscripts-read-only\nscripts-present\n"
    );
    let written = std::fs::read_to_string(share.path().join("from-guest.txt"))
        .expect("the guest's file is on the host");
    assert_eq!(written, "riscv64\n");
    assert!(!root().join("guest-scripts/x").exists());
}

/// A copy of the image, so writing to it leaves the shared test image (whose
/// checksums other tests verify) untouched. `run` boots any built image dir.
fn scratch_copy(name: &str) -> PathBuf {
    let copy = image_dir(name);
    let _ = std::fs::remove_dir_all(&copy);
    let status = Command::new("cp")
        .args(["-a", "--sparse=always"])
        .arg(image_dir(IMAGE))
        .arg(&copy)
        .status()
        .unwrap();
    assert!(status.success(), "copying the image");
    copy
}

#[test]
fn persist_keeps_guest_writes_and_snapshot_does_not() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let name = "e2e-python-scratch";
    let copy = scratch_copy(name);
    let ext4 = copy.join("rootfs.ext4");
    let sha_before = sha256(&ext4);

    let out = run(&[name, "--", "sh", "-c", "echo snap > /root/snapshot-marker"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        sha256(&ext4),
        sha_before,
        "a snapshot run changed the image"
    );
    let out = run(&[name, "--", "test", "-e", "/root/snapshot-marker"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "snapshot writes must be gone: {}",
        stderr(&out)
    );

    let out = run(&[
        name,
        "--persist",
        "--",
        "sh",
        "-c",
        "echo kept > /root/persist-marker",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&[name, "--", "cat", "/root/persist-marker"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "kept\n");

    // While a persistent run writes the image, no other run may use it.
    let share = tempfile::tempdir().unwrap();
    let mut writer = start_sleeping_job(name, share.path(), &["--persist"]);
    let second = run(&[name, "--persist", "--", "true"]);
    let snapshot = run(&[name, "--", "true"]);
    interrupt_group(&mut writer);
    wait_or_kill(&mut writer, Duration::from_secs(30))
        .expect("the persistent run did not stop on SIGINT");
    let holder = format!("held by pid {} (`", writer.id());
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains("is in use (") && stderr(&second).contains(&holder),
        "the refusal names the writer:\n{}",
        stderr(&second)
    );
    assert_eq!(snapshot.status.code(), Some(1));
    assert!(
        stderr(&snapshot).contains("is being written (") && stderr(&snapshot).contains(&holder),
        "the refusal names the writer:\n{}",
        stderr(&snapshot)
    );
    std::fs::remove_dir_all(&copy).unwrap();
}

/// The rule for every writer of an image: refuse at once, naming who holds
/// it. A build while a run of the image goes on would replace the files
/// its guest reads and writes; two builds of one image would share one
/// build directory.
#[test]
fn an_image_in_use_is_not_rebuilt_and_two_builds_of_one_image_do_not_overlap() {
    use std::io::{BufRead, BufReader};
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let manifest_before = std::fs::read(image_dir(IMAGE).join("manifest.json")).unwrap();

    // 1. A run holds the image: `image --rebuild` stops at once, naming it.
    let share = tempfile::tempdir().unwrap();
    let mut user = start_sleeping_job(IMAGE, share.path(), &[]);
    let started = Instant::now();
    let refused = tests::xtask(&config(), &["image", IMAGE, "--rebuild"]);
    let secs = started.elapsed().as_secs_f64();
    interrupt_group(&mut user);
    wait_or_kill(&mut user, Duration::from_secs(30)).expect("the run did not stop on SIGINT");
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(&format!(
            "image `{IMAGE}` is in use (held by pid {} (`",
            user.id()
        )) && secs < 30.0,
        "the build must stop at once ({secs:.1}s), naming the run:\n{}",
        stderr(&refused)
    );
    assert_eq!(
        std::fs::read(image_dir(IMAGE).join("manifest.json")).unwrap(),
        manifest_before,
        "the image was touched"
    );

    // 2. One build holds it: a second build of the same image stops at once.
    let mut first = tests::spawn_in_group(&config(), &["image", IMAGE, "--rebuild"]);
    let mut first_err = BufReader::new(first.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("building image") {
        let mut line = String::new();
        if first_err.read_line(&mut line).unwrap() == 0 {
            panic!("the first build ended before it began:\n{said}");
        }
        said.push_str(&line);
    }
    let second = tests::xtask(&config(), &["image", IMAGE, "--rebuild"]);
    interrupt_group(&mut first);
    let status = wait_or_kill(&mut first, Duration::from_secs(120))
        .expect("the first build did not stop on SIGINT");
    assert_eq!(second.status.code(), Some(1), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("held by pid {} (`", first.id())),
        "the second build names the first:\n{}",
        stderr(&second)
    );
    assert!(!status.success(), "Ctrl-C ends the first build: {status}");
    assert_eq!(
        std::fs::read(image_dir(IMAGE).join("manifest.json")).unwrap(),
        manifest_before,
        "an interrupted build left the image as it was"
    );
}

#[test]
fn extra_drives_are_written_in_place_and_the_root_is_found_by_label() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("data.ext4");
    let made = Command::new("mkfs.ext4")
        .args(["-q", "-L", "acalsim-data"])
        .arg(&disk)
        .arg("64M")
        .status()
        .unwrap();
    assert!(made.success());
    let job = "d=$(findfs LABEL=acalsim-data) && mount $d /mnt && echo from-guest > /mnt/note && umount /mnt && \
               findmnt -no LABEL /";
    let out = run(&[
        IMAGE,
        "--drive",
        disk.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        job,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "acalsim-root\n",
        "the root is the image, whatever the probe order"
    );
    assert_eq!(
        tests::debugfs(&disk, "cat /note"),
        "from-guest\n",
        "the guest's write reached the host file"
    );
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(path).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn initramfs_mode_boots_and_runs_a_job() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let out = run(&[
        IMAGE,
        "--initramfs",
        "--",
        "sh",
        "-c",
        "cat /etc/hostname; findmnt -no FSTYPE /; python3 -c 'print(6*7)'",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "e2e-python");
    assert!(
        lines[1] == "rootfs" || lines[1] == "tmpfs" || lines[1] == "ramfs",
        "root is in RAM: {text}"
    );
    assert_eq!(lines[2], "42");
}

#[test]
fn boot_full_runs_the_job_under_systemd() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let out = run(&[
        IMAGE,
        "--boot",
        "full",
        "--",
        "sh",
        "-c",
        "cat /proc/1/comm; ls /mnt/scripts/torch_check.py; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert_eq!(stdout(&out), "systemd\n/mnt/scripts/torch_check.py\n");
}

#[test]
fn ssh_reaches_the_guest_on_loopback_only() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    use std::os::unix::process::CommandExt;
    let mut guest = Command::new(xtask_bin())
        .arg("--config")
        .arg(config())
        .args(["run", IMAGE, "--ssh", "--", "sleep", "600"])
        .current_dir(root())
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let state = root().join(format!("target/xtask/run/{IMAGE}.ssh"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !state.exists() {
        assert!(
            Instant::now() < deadline,
            "run --ssh wrote no {}",
            state.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = xtask(
        &config(),
        &["ssh", IMAGE, "--", "echo", "over-ssh", "$(hostname)"],
    );
    let port: u64 =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&state).unwrap())
            .unwrap()["port"]
            .as_u64()
            .unwrap();
    let listeners = tcp_listeners(port as u16);
    interrupt_group(&mut guest);
    let status = wait_or_kill(&mut guest, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "over-ssh e2e-python\n");
    assert_eq!(
        listeners,
        ["127.0.0.1"],
        "the forwarded port listens on loopback only"
    );
    assert!(status.is_some(), "run --ssh did not stop on SIGINT");
    assert!(!state.exists(), "the ssh state file outlived the run");
}

/// Local addresses listening on TCP `port`, from /proc/net/tcp{,6}.
fn tcp_listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for file in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (fields.get(1), fields.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state != "0A" || u16::from_str_radix(p, 16) != Ok(port) {
                continue;
            }
            found.push(match addr.len() {
                8 => {
                    let n = u32::from_str_radix(addr, 16).unwrap();
                    std::net::Ipv4Addr::from(n.swap_bytes()).to_string()
                }
                _ => format!("[{addr}]"),
            });
        }
    }
    found
}

#[test]
fn kernel_panic_ends_the_run_quickly_with_an_error() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let started = Instant::now();
    // An init that does not exist: the initrd cannot hand over, PID 1 exits,
    // the kernel panics.
    let out = run(&[IMAGE, "--append", "init=/nonexistent", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the guest kernel panicked"), "{err}");
    assert!(
        err.contains(&format!("-{IMAGE}/boot.log")),
        "names the boot log: {err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(240),
        "a panic must not wait for the timeout"
    );
}

#[test]
fn sst_socket_with_stock_qemu_is_refused_before_booting() {
    let _lock = build_lock();
    ensure_built(&config(), IMAGE);
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("sst.sock").display().to_string();
    // Stock QEMU named explicitly (without --qemu, a built project QEMU is chosen).
    let out = run(&[
        IMAGE,
        "--qemu",
        "qemu-system-riscv64",
        "--sst-socket",
        &socket,
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("no virtio-sst-device") && err.contains("cargo xtask qemu build"),
        "{err}"
    );
    let runs = std::fs::read_dir(root().join("target/xtask/runs"))
        .into_iter()
        .flatten();
    let booted = runs
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("run.json")).ok())
        .any(|record| record.contains(&socket));
    assert!(
        !booted,
        "a boot was attempted (a run folder names {socket})"
    );
}

#[test]
fn unknown_or_unbuilt_images_are_explained() {
    let out = run(&["no-such-image", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown image `no-such-image`"),
        "{}",
        stderr(&out)
    );
    let out = run(&["e2e-never-built", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cargo xtask image e2e-never-built"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dashes_without_a_command_are_refused_and_say_how_to_open_the_console() {
    let out = run(&[IMAGE, "--"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("has no command after `--`") && err.contains("for the interactive console"),
        "{err}"
    );
}
