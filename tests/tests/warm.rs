//! End-to-end: `run --warm` on the real e2e-python image in the project's
//! real QEMU 10.2 (warm-up module: NumPy). The first warm run boots, imports
//! and saves; the others restore, and each check asserts that they did.
//! Checked: the same output and exit status warm and cold, the share after a
//! restore, a script job, a timeout, the clock, timers and randomness
//! (kernel, `random`, NumPy) of a restored guest, two restores at once, a
//! truncated snapshot (discarded, the run goes cold), a changed disk (a new
//! snapshot, the old one listed stale and pruned), and Ctrl-C during the
//! save (no partial snapshot, no QEMU). On the default image, torch's
//! generators: fresh in every restore, and a job's own seed draws what it
//! draws cold.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tests::{
    acalsim_src, ensure_built, image_dir, interrupt_group, root, run_folder, run_record, stderr,
    wait_or_kill, xtask_bin, xtask_env,
};

const IMAGE: &str = "e2e-python";

fn config() -> PathBuf {
    root().join("tests/configs/e2e.toml")
}

/// The image and the project's QEMU (both cached after their first build).
fn ready() {
    ensure_built(&config(), IMAGE);
    project_qemu(&config());
}

/// `qemu build`, which records the project's QEMU 10.2 for `run --warm`.
fn project_qemu(config: &Path) {
    let out = xtask_env(
        config,
        &["qemu", "build"],
        &[("ACALSIM_SRC", &acalsim_src())],
        &[],
    );
    assert!(out.status.success(), "qemu build failed:\n{}", stderr(&out));
}

/// `cargo xtask run ARGS`, printing what it said.
fn run(args: &[&str]) -> Output {
    let started = Instant::now();
    let out = xtask_env(&config(), &[&["run"], args].concat(), &[], &[]);
    eprintln!(
        "--- run {args:?}: {:?} in {:.1}s ---\n{}\n--- stderr ---\n{}",
        out.status.code(),
        started.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `$XDG_CACHE_HOME/acalsim/snapshots` (or under ~/.cache), as xtask uses it.
fn snapshots_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    cache.join("acalsim/snapshots")
}

/// The snapshot directory a save's message names.
fn saved_dir(err: &str) -> PathBuf {
    let line = err
        .lines()
        .find(|l| l.starts_with("warm: saved"))
        .unwrap_or_else(|| panic!("no save in:\n{err}"));
    PathBuf::from(line.rsplit(" in ").next().unwrap().trim())
}

/// A warm run of `args` whose snapshot exists (saving it first if needed).
fn warm(args: &[&str]) -> Output {
    run(&[&["--warm"], args].concat())
}

/// [`warm`], which must have restored a snapshot: a refused or skipped
/// restore falls back to a cold boot and would pass every other check.
fn restored(args: &[&str]) -> Output {
    let out = warm(args);
    assert_restored(&stderr(&out));
    out
}

fn assert_restored(err: &str) {
    assert!(
        err.contains("warm: restored snapshot") && !err.contains("did not restore"),
        "the warm run did not restore a snapshot:\n{err}"
    );
}

const NUMPY_JOB: &str =
    "import numpy, sys; print(numpy.arange(10).sum(), sys.argv[1:], flush=True); sys.exit(3)";

/// The boot log of the run that printed `out`, from its run folder.
fn run_log(out: &Output) -> String {
    let path = run_folder(out).join("boot.log");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A run whose disk writes are thrown away ends when its status is in:
/// QEMU is stopped before the guest gets to power off.
fn assert_stopped_at_status(log: &str) {
    assert!(
        !log.contains("reboot: Power down"),
        "QEMU waited for the guest to power off:\n{log}"
    );
}

fn a_job_prints_the_same_warm_and_cold_and_a_restored_guest_writes_the_share() {
    let cold = run(&["--", "python3", "-c", NUMPY_JOB, "a b", "c"]);
    assert_eq!(cold.status.code(), Some(3), "{}", stderr(&cold));
    assert_eq!(stdout(&cold), "45 ['a b', 'c']\n");
    assert_stopped_at_status(&run_log(&cold));
    for _ in 0..2 {
        let w = restored(&["--", "python3", "-c", NUMPY_JOB, "a b", "c"]);
        assert_eq!(
            (w.status.code(), stdout(&w)),
            (cold.status.code(), stdout(&cold)),
            "{}",
            stderr(&w)
        );
    }
    let again = restored(&["--", "python3", "-c", NUMPY_JOB, "a b", "c"]);
    assert!(
        !stderr(&again).contains("no snapshot"),
        "a restore saved again:\n{}",
        stderr(&again)
    );

    let share = tempfile::tempdir().unwrap();
    std::fs::write(
        share.path().join("job.py"),
        "import sys\nopen('out.txt', 'w').write(' '.join(sys.argv))\nraise SystemExit(5)\n",
    )
    .unwrap();
    let s = share.path().to_str().unwrap();
    let script = restored(&["--share", s, "--", "python3", "job.py", "x"]);
    assert_eq!(script.status.code(), Some(5), "{}", stderr(&script));
    assert_eq!(
        std::fs::read_to_string(share.path().join("out.txt")).unwrap(),
        "job.py x"
    );
    let shell = restored(&[
        "--share",
        s,
        "--",
        "sh",
        "-c",
        "echo from-sh > sh.txt; ls /mnt/scripts/torch_check.py",
    ]);
    assert_eq!(shell.status.code(), Some(0), "{}", stderr(&shell));
    assert_eq!(stdout(&shell), "/mnt/scripts/torch_check.py\n");
    // Where the restore's time went, the guest's own steps among them.
    let log = run_log(&shell);
    // The warm run's summary names the restore, and its record says warm.
    let summary = stderr(&shell)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        summary.starts_with("exit 0 in ") && summary.contains("(restore "),
        "{summary}"
    );
    assert_eq!(run_record(&run_folder(&shell))["warm"], true);
    // `snapshots --json` lists the snapshot these runs restored, current.
    let listing = xtask_env(&config(), &["snapshots", "--json"], &[], &[]);
    let v: serde_json::Value = serde_json::from_slice(&listing.stdout).expect("snapshots --json");
    let restored_key = stderr(&shell)
        .split("restored snapshot ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .map(str::to_string)
        .expect("the restored snapshot's key");
    assert!(
        v["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["key"] == restored_key.as_str()
                && s["image"] == IMAGE
                && s["state"] == "current"),
        "{restored_key} is not listed as current: {v}"
    );
    for phase in [
        "warm run phases",
        "  snapshot check ",
        "  state load ",
        "  guest: devices, shares ",
        "  guest: job (spawned) ",
        "  QEMU stop ",
    ] {
        assert!(log.contains(phase), "no `{phase}` in the run's log:\n{log}");
    }
    assert_stopped_at_status(&log);
    assert_eq!(
        std::fs::read_to_string(share.path().join("sh.txt")).unwrap(),
        "from-sh\n"
    );
    // --timeout counts from the job's hand-over and ends the run as in a cold one.
    let started = Instant::now();
    let late = restored(&[
        "--timeout",
        "5",
        "--",
        "python3",
        "-c",
        "import time; time.sleep(600)",
    ]);
    assert_eq!(late.status.code(), Some(124), "{}", stderr(&late));
    assert!(
        stderr(&late).contains("the command ran for 5 s, its --timeout")
            && started.elapsed().as_secs() < 60,
        "{}",
        stderr(&late)
    );
    // The job runs inside the zygote: one that ends the process itself
    // still reports its own status.
    let abrupt = restored(&[
        "--",
        "python3",
        "-c",
        "import os; print('bye', flush=True); os._exit(7)",
    ]);
    assert_eq!(
        (abrupt.status.code(), stdout(&abrupt)),
        (Some(7), "bye\n".to_string()),
        "{}",
        stderr(&abrupt)
    );
    let failing = restored(&["--", "python3", "-c", "raise ValueError('boom')"]);
    assert_eq!(failing.status.code(), Some(1));
    let err = stderr(&failing);
    assert!(
        err.contains("ValueError: boom") && !err.contains("acalsim-zygote"),
        "{err}"
    );
}

/// One test, in order: the checks share the image, the QEMU and the
/// snapshot, and the last one changes the disk under every snapshot of it.
#[test]
fn warm_runs_restore_a_working_guest_and_never_a_stale_or_damaged_snapshot() {
    ready();
    a_job_prints_the_same_warm_and_cold_and_a_restored_guest_writes_the_share();
    a_restored_guest_has_the_hosts_clock_working_timers_and_fresh_randomness();
    two_warm_runs_of_one_snapshot_at_once_both_succeed();
    a_truncated_snapshot_is_discarded_and_the_run_completes_cold();
    a_changed_disk_makes_a_new_snapshot_and_ctrl_c_during_a_save_leaves_nothing();
}

/// Host times at which each stdout line of a warm run arrived, with the
/// line; the run must have restored its snapshot.
fn timed_lines(args: &[&str]) -> Vec<(f64, String)> {
    let mut child = Command::new(xtask_bin())
        .arg("--config")
        .arg(config())
        .args([&["run", "--warm", "--"], args].concat())
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cargo xtask run");
    let mut err_pipe = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut err_pipe, &mut text).unwrap();
        text
    });
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| (now(), l.expect("reading the run's stdout")))
        .collect();
    let err = err.join().unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    assert_restored(&err);
    lines
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Fresh randomness: the kernel's pool, Python's `random` and NumPy's
/// global generator (the warm-up imported NumPy before the snapshot).
fn a_restored_guest_has_the_hosts_clock_working_timers_and_fresh_randomness() {
    let job = "import os, random, numpy, time; print(os.urandom(16).hex(), random.random(), numpy.random.rand()); print(time.time(), flush=True); time.sleep(1); print('slept', flush=True)";
    warm(&["--", "python3", "-c", "pass"]);
    let first = timed_lines(&["python3", "-c", job]);
    let second = timed_lines(&["python3", "-c", job]);
    for lines in [&first, &second] {
        assert_eq!(lines.len(), 3, "{lines:?}");
        let guest_time: f64 = lines[1].1.parse().unwrap();
        assert!(
            (guest_time - lines[1].0).abs() < 5.0,
            "guest clock {guest_time} vs host {}",
            lines[1].0
        );
        let slept = lines[2].0 - lines[1].0;
        assert!(
            (0.8..3.0).contains(&slept),
            "`sleep 1` took {slept:.2}s of host time"
        );
    }
    let drawn = |lines: &[(f64, String)]| -> Vec<String> {
        lines[0].1.split_whitespace().map(str::to_string).collect()
    };
    let (a, b) = (drawn(&first), drawn(&second));
    assert_eq!(a.len(), 3, "{a:?}");
    for (i, source) in ["os.urandom", "random", "numpy.random"].iter().enumerate() {
        assert_ne!(a[i], b[i], "two restores drew the same {source} numbers");
    }
}

fn two_warm_runs_of_one_snapshot_at_once_both_succeed() {
    warm(&["--", "true"]);
    let start = |n: &str| {
        Command::new(xtask_bin())
            .arg("--config")
            .arg(config())
            .args([
                "run",
                "--warm",
                "--",
                "python3",
                "-c",
                &format!("print('run {n}')"),
            ])
            .current_dir(root())
            .output()
            .expect("starting a warm run")
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| start("a"));
        let b = s.spawn(|| start("b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    assert_restored(&stderr(&a));
    assert_restored(&stderr(&b));
    assert_eq!(
        (stdout(&a), stdout(&b)),
        ("run a\n".into(), "run b\n".into())
    );
}

fn a_truncated_snapshot_is_discarded_and_the_run_completes_cold() {
    // Its own machine shape (one CPU), so no other test restores it meanwhile.
    let first = warm(&["--smp", "1", "--", "true"]);
    let dir = match stderr(&first).contains("warm: saved") {
        true => saved_dir(&stderr(&first)),
        false => newest_snapshot_with_smp(1),
    };
    let state = dir.join("vm.state");
    let len = std::fs::metadata(&state).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&state)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let out = warm(&[
        "--smp",
        "1",
        "--",
        "python3",
        "-c",
        "print('after the damage')",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "after the damage\n");
    let err = stderr(&out);
    assert!(
        err.contains("is damaged") && err.contains("truncated") && err.contains("warm: saved"),
        "{err}"
    );
    let again = restored(&["--smp", "1", "--", "true"]);
    assert!(
        again.status.success() && !stderr(&again).contains("damaged"),
        "{}",
        stderr(&again)
    );
}

fn newest_snapshot_with_smp(smp: u64) -> PathBuf {
    let mut found: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(snapshots_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            std::fs::read_to_string(p.join("snapshot.json"))
                .ok()
                .is_some_and(|t| {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap();
                    v["image"] == IMAGE && v["smp"] == smp
                })
        })
        .map(|p| (std::fs::metadata(&p).unwrap().modified().unwrap(), p))
        .collect();
    found.sort();
    found
        .pop()
        .expect("no snapshot of the e2e image with that smp")
        .1
}

fn a_changed_disk_makes_a_new_snapshot_and_ctrl_c_during_a_save_leaves_nothing() {
    // memory 1536M: a shape no other test uses.
    let args = ["run", "--warm", "--memory", "1536M", "--", "true"];
    let first = run(&args[1..]);
    assert!(first.status.success(), "{}", stderr(&first));
    let old_key = restored_key(&stderr(&first));
    // A write to the image (what `run --persist` does) must not be restored over.
    touch(&image_dir(IMAGE).join("rootfs.ext4"));
    let mut child = Command::new(xtask_bin())
        .arg("--config")
        .arg(config())
        .args(args)
        .current_dir(root())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let said = wait_for_line(&mut err, "warm: ");
    assert!(
        said.contains("no snapshot"),
        "a changed disk restored the old snapshot: {said}"
    );
    // The guest is ready: the save has begun.
    wait_for_line(&mut err, "the guest is ready");
    interrupt_group(&mut child);
    let status =
        wait_or_kill(&mut child, Duration::from_secs(60)).expect("the run did not stop on SIGINT");
    assert_eq!(status.code(), Some(130));
    let partials: Vec<_> = std::fs::read_dir(snapshots_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), "left behind: {partials:?}");
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let qemu = String::from_utf8_lossy(&ps.stdout)
        .lines()
        .any(|l| l.contains("qemu-system-riscv64") && l.contains("-m 1536M"));
    assert!(!qemu, "QEMU survived Ctrl-C");

    // The snapshot of the disk as it was is stale now, and `--prune` removes it.
    let listed = tests::xtask(&config(), &["snapshots"]);
    let line = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .find(|l| l.starts_with(&old_key))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{old_key} not listed:\n{}", stdout(&listed)));
    assert!(
        line.ends_with("stale: the root disk was written (run --persist)"),
        "{line}"
    );
    let pruned = tests::xtask(&config(), &["snapshots", "--prune"]);
    assert!(
        pruned.status.success() && stdout(&pruned).contains(&format!("removed {old_key}")),
        "{}\n{}",
        stdout(&pruned),
        stderr(&pruned)
    );
    assert!(!snapshots_dir().join(&old_key).exists());
}

/// The snapshot a warm run restored (`warm: restored snapshot KEY in …`).
fn restored_key(err: &str) -> String {
    err.lines()
        .find_map(|l| l.strip_prefix("warm: restored snapshot "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no restore in:\n{err}"))
        .to_string()
}

/// The first line of `err` that contains `needle`.
fn wait_for_line(err: &mut impl BufRead, needle: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "no `{needle}` in:\n{seen}"
        );
        if line.contains(needle) {
            return line;
        }
        seen.push_str(&line);
    }
}

fn touch(path: &Path) {
    let status = Command::new("touch").arg(path).status().unwrap();
    assert!(status.success());
}

/// What a torch job draws: its generator's seed and two numbers, then,
/// seeded by the job itself, three uniform and two normal numbers.
const TORCH_DRAWS: &str = "import torch\nprint(torch.initial_seed(), torch.rand(2).tolist())\ntorch.manual_seed(0)\nprint(torch.rand(3).tolist(), torch.randn(2).tolist())";

/// The default image's torch, warm (`warmup = ["torch"]`: torch's default
/// generator was seeded before the snapshot): two restores draw different
/// seeds and numbers, as two cold runs do, and a job that seeds itself
/// draws exactly what it draws cold.
#[test]
fn warm_torch_jobs_draw_fresh_seeds_and_a_seeded_job_draws_what_it_draws_cold() {
    let main = root().join("acalsim.toml");
    ensure_built(&main, "debian-sid-torch");
    project_qemu(&main);
    let torch_run = |warm: bool| -> Vec<String> {
        let mut args = vec!["run", "debian-sid-torch"];
        if warm {
            args.push("--warm");
        }
        args.extend(["--", "python3", "-c", TORCH_DRAWS]);
        let out = xtask_env(&main, &args, &[], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        if warm {
            assert_restored(&stderr(&out));
        }
        let lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        lines
    };
    let (first, second) = (torch_run(true), torch_run(true));
    assert_ne!(
        first[0], second[0],
        "two warm runs of one snapshot drew the same torch seed and numbers"
    );
    let cold = torch_run(false);
    assert_eq!(
        (&first[1], &second[1]),
        (&cold[1], &cold[1]),
        "torch.manual_seed(0) draws differ warm and cold"
    );
}
