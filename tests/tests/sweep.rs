//! `cargo xtask sweep` end to end on the e2e-cosim image, warm, with the
//! reference peer (tests/data/sweep/compute.toml: four points and one whose
//! job exits 3), first here and then through a real one-node Slurm cluster:
//!
//! - Ctrl-C partway stops every session and leaves nothing running; the next
//!   run does exactly the missing points, ends non-zero and names the
//!   failed point; every ok point's cycles are the closed form, counted also
//!   in its peer's log; the CSV and the provenance are what was run;
//! - `--slurm`: a task cancelled with `scancel` while it runs is recorded as
//!   failed, Ctrl-C on `--slurm --wait` cancels the jobs it submitted, the
//!   next `--slurm --wait` completes the failed points, and the results equal
//!   the local ones metric for metric; the daemons are stopped at the end.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::cosim::{e2e_config, ensure_cosim_ready, qemu_record};
use tests::slurm::{alive, Cluster};
use tests::*;

const FILE: &str = "tests/data/sweep/compute.toml";
const POINTS: usize = 5;

/// An empty results directory for this test.
fn fresh(name: &str) -> PathBuf {
    let dir = root().join("target/xtask/test-sweeps").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// point id → record.json, parsed and as text.
fn records(out: &Path) -> BTreeMap<String, (Value, String)> {
    let Ok(entries) = std::fs::read_dir(out.join("points")) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path().join("record.json")).ok()?;
            let id = e.file_name().to_string_lossy().into_owned();
            Some((
                id,
                (
                    serde_json::from_str(&text).expect("record.json is JSON"),
                    text,
                ),
            ))
        })
        .collect()
}

fn partials(out: &Path) -> Vec<String> {
    std::fs::read_dir(out.join("points"))
        .map(|e| {
            e.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Ctrl-C to `child`'s group; asserts it ends within `limit` with status
/// 130 and returns its stderr.
fn ctrl_c(child: &mut std::process::Child, limit: Duration) -> String {
    interrupt_group(child);
    let status = wait_or_kill(child, limit).expect("the command ends after Ctrl-C");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("reading stderr");
    assert_eq!(status.code(), Some(130), "{err}");
    err
}

/// sst_compute.py's request i asks for 1 + (i * 7919) % 65536 units.
fn units(count: u64) -> u64 {
    (0..count).map(|i| 1 + (i * 7919) % 65536).sum()
}

fn param(r: &Value, name: &str) -> u64 {
    r["params"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} in {r}"))
}

#[test]
fn a_sweep_resumes_after_ctrl_c_names_its_failed_point_and_slurm_gives_the_same_results() {
    {
        let _lock = build_lock();
        ensure_cosim_ready();
    }
    let local = fresh("local");
    let out_arg = local.to_string_lossy().into_owned();
    let args = ["sweep", FILE, "--out", &out_arg, "--jobs", "1"];

    // 1. Ctrl-C once two points are recorded: nothing is left running.
    let mut child = spawn_in_group(&e2e_config(), &args);
    let deadline = Instant::now() + Duration::from_secs(900);
    while records(&local).len() < 2 {
        assert!(Instant::now() < deadline, "no two points recorded in 900 s");
        assert!(
            child.try_wait().expect("polling the sweep").is_none(),
            "the sweep ended before Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = ctrl_c(&mut child, Duration::from_secs(120));
    // SAFETY: signal 0 to the sweep's process group only checks it is gone.
    let group_left = unsafe { libc::kill(-(child.id() as libc::pid_t), 0) } == 0;
    assert!(
        !group_left,
        "a process of the interrupted sweep is still running (QEMU or the peer)"
    );
    assert!(
        partials(&local).is_empty(),
        "half-written points left: {:?}",
        partials(&local)
    );
    assert!(
        err.contains("interrupted: the next `cargo xtask sweep"),
        "{err}"
    );
    let before = records(&local);
    assert!(
        (2..POINTS).contains(&before.len()),
        "{} points recorded before Ctrl-C",
        before.len()
    );

    // 2. The next run does only the missing points; the exit-3 point is named.
    let out = xtask(&e2e_config(), &args);
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed point makes the sweep fail:\n{err}"
    );
    let ran = err
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("ok: ") || l.starts_with("FAILED: "))
        .count();
    assert_eq!(
        ran,
        POINTS - before.len(),
        "only the missing points run again:\n{err}"
    );
    let all = records(&local);
    assert_eq!(all.len(), POINTS);
    for (id, (_, text)) in &before {
        assert_eq!(&all[id].1, text, "point {id} was run again");
    }
    let (failed_id, (failed, _)) = all
        .iter()
        .find(|(_, (r, _))| param(r, "cpu") == 3)
        .expect("the cpu = 3 point");
    assert_eq!(
        (failed["status"].as_i64(), failed["result"].as_str()),
        (Some(3), Some("exit 3"))
    );
    let named = format!(
        "failed: {failed_id} (count=5 cpu=3 repeat=1): exit 3; logs in {}",
        local.join("points").join(failed_id).display()
    );
    assert!(
        err.contains(&named),
        "the summary names the failed point:\n{err}"
    );
    assert!(
        err.contains("4 of 5 points ok, 1 failed, 0 not run"),
        "{err}"
    );
    check_points(&local, &all);
    check_csv(&local, &all);
    check_provenance(&all);

    // 3. The same sweep through Slurm.
    slurm_part(&all);
}

/// Each ok point's metrics are the closed form, and its peer saw `count` requests.
fn check_points(out: &Path, all: &BTreeMap<String, (Value, String)>) {
    for (id, (r, _)) in all {
        let (count, cpu) = (param(r, "count"), param(r, "cpu"));
        let m = &r["metrics"];
        if cpu != 3 {
            assert_eq!(r["result"], "ok", "{r}");
            assert_eq!(
                m["total_cycles"].as_u64(),
                Some(units(count) * cpu),
                "point {id}: {r}"
            );
            assert_eq!(
                (
                    m["requests"].as_u64(),
                    m["first_request_id"].as_u64(),
                    m["last_request_id"].as_u64()
                ),
                (Some(count), Some(1), Some(count)),
                "{r}"
            );
            assert!(
                r["restore_secs"].as_f64().is_some_and(|s| s > 0.0),
                "a warm point restores: {r}"
            );
        }
        let peer = std::fs::read_to_string(out.join("points").join(id).join("peer.jsonl"))
            .expect("the peer's log");
        assert_eq!(
            peer.lines().count() as u64,
            count,
            "point {id}: the peer's requests"
        );
        let argv: Vec<&str> = r["argv"]
            .as_array()
            .expect("argv")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            argv[2].contains(&format!("--count {count} --cycles-per-unit {cpu} ")),
            "{argv:?}"
        );
        assert_eq!(
            r["sst"].as_str(),
            Some(
                format!("cargo xtask sst peer --cycles-per-unit {cpu} (log: peer.jsonl)").as_str()
            )
        );
    }
}

fn check_csv(out: &Path, all: &BTreeMap<String, (Value, String)>) {
    let csv = std::fs::read_to_string(out.join("results.csv")).expect("results.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("id,count,cpu,repeat,status,result,wall_secs,restore_secs,requests,total_cycles,first_request_id,last_request_id")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), POINTS, "{csv}");
    for (id, (r, _)) in all {
        let row = rows
            .iter()
            .find(|l| l.starts_with(&format!("{id},")))
            .unwrap_or_else(|| panic!("no row for {id}:\n{csv}"));
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(
            cells[1..4],
            [
                param(r, "count").to_string(),
                param(r, "cpu").to_string(),
                "1".into()
            ],
            "{row}"
        );
        assert_eq!(
            cells[9],
            r["metrics"]["total_cycles"]
                .as_u64()
                .map(|c| c.to_string())
                .unwrap_or_default(),
            "{row}"
        );
    }
    let svg = std::fs::read_to_string(out.join("plot.svg")).expect("plot.svg");
    assert!(
        svg.contains("count=10") && svg.contains("count=40"),
        "one line per count"
    );
}

/// The provenance names what ran: the image's manifest, the project's QEMU,
/// the peer, ACALSim's device sources and this commit.
fn check_provenance(all: &BTreeMap<String, (Value, String)>) {
    use sha2::{Digest, Sha256};
    let manifest =
        std::fs::read(image_dir("e2e-cosim").join("manifest.json")).expect("the image's manifest");
    let qemu = qemu_record();
    let commit = run(std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root()));
    for (r, _) in all.values() {
        let p = &r["provenance"];
        assert_eq!(p["image"]["name"], "e2e-cosim");
        assert_eq!(
            p["image"]["manifest_sha256"].as_str(),
            Some(format!("{:x}", Sha256::digest(&manifest)).as_str())
        );
        assert_eq!(
            p["image"]["config_hash"],
            tests::manifest("e2e-cosim")["config_hash"]
        );
        assert_eq!(p["qemu"]["sha256"], qemu["sha256"]);
        assert_eq!(p["qemu"]["version"], qemu["version"]);
        assert_eq!(p["sst"]["side"], "reference peer");
        assert_eq!(p["acalsim"]["device_sha256"], qemu["acalsim_device_sha256"]);
        assert_eq!(p["project"]["commit"].as_str(), Some(commit.trim()));
    }
}

/// `--slurm`: one task cancelled while it runs, then `--slurm --wait`.
fn slurm_part(local: &BTreeMap<String, (Value, String)>) {
    let cluster = Cluster::start();
    let conf = cluster.conf();
    let env = [("SLURM_CONF", conf.as_path())];
    let remote = fresh("slurm");
    let out_arg = remote.to_string_lossy().into_owned();
    let submitted = xtask_env(
        &e2e_config(),
        &[
            "sweep",
            FILE,
            "--out",
            &out_arg,
            "--slurm",
            "--max-parallel",
            "1",
        ],
        &env,
        &[],
    );
    assert!(
        submitted.status.success(),
        "{}\n{}",
        stderr(&submitted),
        cluster.logs()
    );
    let jobs: Value = serde_json::from_str(
        &std::fs::read_to_string(remote.join("slurm/jobs.json")).expect("jobs.json"),
    )
    .expect("JSON");
    let array = jobs["array"].as_str().expect("the array job").to_string();
    let first = jobs["ids"][0]
        .as_str()
        .expect("the first task's point")
        .to_string();
    let script = std::fs::read_to_string(remote.join("slurm/array.sh")).expect("array.sh");
    assert!(
        script.contains("#SBATCH --array=0-4%1\n")
            && script.contains("--point \"${ids[$SLURM_ARRAY_TASK_ID]}\""),
        "{script}"
    );

    // Task 0 runs its session: cancel it.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !partials(&remote)
        .iter()
        .any(|p| p.starts_with(&format!(".{first}.partial-")))
    {
        assert!(
            Instant::now() < deadline,
            "task 0 did not start its point in 300 s: {:?}\n{}",
            cluster.queue(),
            cluster.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let cancelled = cluster
        .command("scancel")
        .arg(format!("{array}_0"))
        .status()
        .expect("scancel");
    assert!(cancelled.success());
    cluster.drain(Duration::from_secs(600));
    let after = records(&remote);
    let (r, _) = after.get(&first).unwrap_or_else(|| {
        panic!(
            "the cancelled point {first} has no record: {:?}",
            partials(&remote)
        )
    });
    assert_eq!(
        (r["status"].as_i64(), r["result"].as_str()),
        (Some(143), Some("stopped by signal 15")),
        "the cancelled point is recorded as failed: {r}"
    );
    assert_eq!(r["slurm_job"].as_str(), Some(format!("{array}_0").as_str()));
    assert_eq!(after.len(), POINTS, "the other tasks ran");
    let status = xtask_env(
        &e2e_config(),
        &["sweep", FILE, "--out", &out_arg, "--status"],
        &env,
        &[],
    );
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("5 points: 2 failed, 3 ok"),
        "{}",
        String::from_utf8_lossy(&status.stdout)
    );

    // Ctrl-C on `--wait` cancels the jobs it submitted.
    let mut waiting = spawn_in_group_env(
        &e2e_config(),
        &[
            "sweep",
            FILE,
            "--out",
            &out_arg,
            "--slurm",
            "--wait",
            "--max-parallel",
            "1",
        ],
        &env,
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let now: Value = serde_json::from_str(
            &std::fs::read_to_string(remote.join("slurm/jobs.json")).unwrap_or_default(),
        )
        .unwrap_or_default();
        if now["array"].as_str().is_some_and(|a| a != array) && !cluster.queue().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second submission did not reach the queue: {:?}",
            cluster.queue()
        );
        assert!(
            waiting.try_wait().expect("polling").is_none(),
            "--wait ended before Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let err = ctrl_c(&mut waiting, Duration::from_secs(60));
    assert!(err.contains("interrupted: cancelled jobs"), "{err}");
    cluster.drain(Duration::from_secs(60));

    // The next run completes it, and every result is the local one.
    let failed_before = records(&remote)
        .values()
        .filter(|(r, _)| r["result"] != "ok")
        .count();
    assert!(failed_before >= 2, "the cancelled and the exit-3 points");
    let done = xtask_env(
        &e2e_config(),
        &["sweep", FILE, "--out", &out_arg, "--slurm", "--wait"],
        &env,
        &[],
    );
    let err = stderr(&done);
    assert_eq!(
        done.status.code(),
        Some(1),
        "the exit-3 point fails again:\n{err}"
    );
    assert!(
        err.contains(&format!("({failed_before} tasks)")),
        "only the failed points are submitted again:\n{err}"
    );
    let remote_records = records(&remote);
    for (id, (l, _)) in local {
        let (r, _) = &remote_records[id];
        assert_eq!(
            (&r["status"], &r["metrics"]),
            (&l["status"], &l["metrics"]),
            "point {id}: Slurm and local differ"
        );
        assert!(r["slurm_job"].is_string(), "{r}");
    }
    assert!(remote.join("results.csv").is_file());
    let pids = cluster.pids();
    drop(cluster);
    assert!(
        pids.iter().all(|&p| !alive(p)),
        "a Slurm daemon is still running: {pids:?}"
    );
}
