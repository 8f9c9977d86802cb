//! A one-node Slurm cluster on this machine for the sweep tests: Debian's
//! `slurm-wlm` and `munge` (installed by `.ci/run`), started without
//! systemd as `../shared/DESIGN.md` records: `munged` as user munge, then
//! `slurmctld` and `slurmd` with a `slurm.conf` of the test's own (its
//! spool, logs and pid files in a temporary directory; `SLURM_CONF` points
//! every client at it). Dropping the cluster cancels its jobs and stops
//! the daemons it started.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Cluster {
    dir: tempfile::TempDir,
    /// munged, when this cluster started it (else it was already running).
    munged: Option<u32>,
}

/// Ports of the test cluster: not Slurm's defaults, so a real cluster's
/// daemons on this host are left alone.
const CTLD_PORT: u16 = 6917;
const SLURMD_PORT: u16 = 6918;

impl Cluster {
    /// Starts munged (if needed), slurmctld and slurmd, and waits until the
    /// node is idle. Missing packages are a failure that names them.
    pub fn start() -> Cluster {
        for tool in [
            "/usr/sbin/munged",
            "/usr/sbin/slurmctld",
            "/usr/sbin/slurmd",
            "/usr/bin/sbatch",
        ] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: the Slurm tests need Debian's slurm-wlm and munge (`apt-get install slurm-wlm munge`; .ci/run installs them)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("acalsim-slurm-")
            .tempdir()
            .expect("a temporary directory");
        let munged = start_munged();
        let cluster = Cluster { dir, munged };
        let conf = cluster.conf();
        for sub in ["spool/ctld", "spool/d", "log"] {
            std::fs::create_dir_all(cluster.dir.path().join(sub)).expect("creating the spool");
        }
        std::fs::write(&conf, slurm_conf(cluster.dir.path())).expect("writing slurm.conf");
        for daemon in ["/usr/sbin/slurmctld", "/usr/sbin/slurmd"] {
            let out = Command::new(daemon)
                .arg("-f")
                .arg(&conf)
                .output()
                .expect("starting a Slurm daemon");
            assert!(
                out.status.success(),
                "{daemon} did not start: {}\n{}",
                String::from_utf8_lossy(&out.stderr),
                cluster.logs()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = cluster
                .command("sinfo")
                .args(["-h", "-o", "%T"])
                .output()
                .expect("sinfo");
            if String::from_utf8_lossy(&state.stdout).trim() == "idle" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the node is not idle after 30 s: {}\n{}",
                String::from_utf8_lossy(&state.stdout),
                cluster.logs()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        cluster
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    /// A Slurm client command aimed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.conf());
        cmd
    }

    /// `squeue`'s entries (`ID STATE`), empty once every job has ended.
    pub fn queue(&self) -> Vec<String> {
        let out = self
            .command("squeue")
            .args(["-h", "-o", "%i %T"])
            .output()
            .expect("squeue");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    }

    /// Waits until the queue is empty.
    pub fn drain(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !self.queue().is_empty() {
            assert!(
                Instant::now() < deadline,
                "jobs still queued after {limit:?}: {:?}",
                self.queue()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The daemons' pids: slurmctld, slurmd and munged (if ours).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = ["slurmctld.pid", "slurmd.pid"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.path().join(f)).ok())
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        pids.extend(self.munged);
        pids
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.path().join("log").join(f))
                    .unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                format!(
                    "--- {f} ---\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("scancel").arg("--user=root").status();
        // Read once: a daemon removes its pid file as it stops.
        let pids = self.pids();
        for &pid in &pids {
            // SAFETY: kill(2) on a daemon pid this cluster started.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while pids.iter().any(|&p| alive(p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in pids.into_iter().filter(|&p| alive(p)) {
            // SAFETY: as above.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
    }
}

pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

/// munged as user munge, unless one already answers; its pid if started.
fn start_munged() -> Option<u32> {
    let answers = || {
        Command::new("sh")
            .args(["-c", "munge -n | unmunge"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if answers() {
        return None;
    }
    std::fs::create_dir_all("/run/munge").expect("creating /run/munge");
    let status = Command::new("chown")
        .args(["munge:munge", "/run/munge"])
        .status()
        .expect("chown");
    assert!(status.success(), "chown munge:munge /run/munge failed");
    let status = Command::new("runuser")
        .args(["-u", "munge", "--", "/usr/sbin/munged"])
        .status()
        .expect("starting munged");
    assert!(status.success(), "munged did not start");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !answers() {
        assert!(
            Instant::now() < deadline,
            "munged does not answer after 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string("/run/munge/munged.pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("reading the hostname")
        .trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn slurm_conf(dir: &Path) -> String {
    let host = hostname();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let d = dir.display();
    format!(
        "ClusterName=acalsim-test
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={CTLD_PORT}
SlurmdPort={SLURMD_PORT}
StateSaveLocation={d}/spool/ctld
SlurmdSpoolDir={d}/spool/d
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
NodeName={host} CPUs={cpus} RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"
    )
}
