//! A sweep as a Slurm job array. The per-sweep work (the image, QEMU and
//! SST checks, and with `warm` the snapshot) is done on the submitting
//! host before anything is submitted; then one array task per point (each
//! runs `xtask sweep FILE --point ID` with the binary copied into the
//! results directory, so rebuilding the checkout cannot change a running
//! sweep), throttled to `%K`, and a collector job that writes the tables
//! once the array has ended (`afterany`: failed points are results too).
//!
//! The scripts are written into `OUT/slurm/` (visible, re-submittable with
//! `sbatch`); the job ids into `OUT/slurm/jobs.json`, which `--status`
//! reads with `squeue` (and `sacct`, where the cluster keeps accounting).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::project::Project;
use crate::run::Signals;

pub const DIR: &str = "slurm";
pub const ARRAY_SCRIPT: &str = "array.sh";
pub const REPORT_SCRIPT: &str = "report.sh";
pub const JOBS: &str = "jobs.json";
/// The xtask binary every task runs, copied at submission.
pub const BINARY: &str = "xtask";
/// Memory a task asks for beyond its guest's: QEMU itself, the SST side
/// and xtask (a cluster that counts memory would otherwise give a task
/// its default, often the whole node or too little).
pub const QEMU_MEMORY_MIB: u64 = 1024;

/// What the scripts run and how they are scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    /// Absolute: the experiment file, the config, the results directory.
    pub file: PathBuf,
    pub config: PathBuf,
    pub out: PathBuf,
    /// The points the array runs, one task each, in task order.
    pub ids: Vec<String>,
    pub cpus_per_task: u32,
    /// `--mem`: the guest's memory and [`QEMU_MEMORY_MIB`].
    pub mem_mib: u64,
    /// The `%K` throttle; `None`: as many as Slurm starts.
    pub max_parallel: Option<u32>,
    pub partition: Option<String>,
    /// Extra `sbatch` options, written into both scripts.
    pub sbatch_args: Vec<String>,
    /// Environment the tasks need from the submitting shell (the cache).
    pub env: Vec<(String, String)>,
}

/// The array script: one task per point.
pub fn array_script(plan: &Plan) -> String {
    let dir = plan.out.join(DIR);
    let throttle = plan
        .max_parallel
        .map(|k| format!("%{k}"))
        .unwrap_or_default();
    let mut s = header(plan, &format!("sweep-{}", plan.name));
    s.push_str(&format!(
        "#SBATCH --array=0-{}{throttle}\n#SBATCH --cpus-per-task={}\n#SBATCH --mem={}M\n#SBATCH --output={}\n",
        plan.ids.len().saturating_sub(1),
        plan.cpus_per_task,
        plan.mem_mib,
        shell_word(&dir.join("logs/%A_%a.out").display().to_string())
    ));
    s.push_str(&body(plan));
    s.push_str("ids=(");
    s.push_str(&plan.ids.join(" "));
    s.push_str(")\n");
    s.push_str(&format!(
        "exec {} --config {} sweep {} --out {} --point \"${{ids[$SLURM_ARRAY_TASK_ID]}}\"\n",
        shell_word(&dir.join(BINARY).display().to_string()),
        shell_word(&plan.config.display().to_string()),
        shell_word(&plan.file.display().to_string()),
        shell_word(&plan.out.display().to_string()),
    ));
    s
}

/// The collector: the tables, once the array has ended.
pub fn report_script(plan: &Plan) -> String {
    let dir = plan.out.join(DIR);
    let mut s = header(plan, &format!("sweep-{}-report", plan.name));
    s.push_str(&format!(
        "#SBATCH --cpus-per-task=1\n#SBATCH --output={}\n",
        shell_word(&dir.join("logs/report-%j.out").display().to_string())
    ));
    s.push_str(&body(plan));
    s.push_str(&format!(
        "exec {} --config {} sweep {} --out {} --report\n",
        shell_word(&dir.join(BINARY).display().to_string()),
        shell_word(&plan.config.display().to_string()),
        shell_word(&plan.file.display().to_string()),
        shell_word(&plan.out.display().to_string()),
    ));
    s
}

fn header(plan: &Plan, job_name: &str) -> String {
    let mut s = format!(
        "#!/bin/bash\n# Written by `cargo xtask sweep {} --slurm`; submit again with `sbatch` from anywhere.\n#SBATCH --job-name={job_name}\n",
        plan.file.display()
    );
    if let Some(p) = &plan.partition {
        s.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    for arg in &plan.sbatch_args {
        s.push_str(&format!("#SBATCH {arg}\n"));
    }
    s
}

fn body(plan: &Plan) -> String {
    let mut s = String::from("set -euo pipefail\n");
    for (k, v) in &plan.env {
        s.push_str(&format!("export {k}={}\n", shell_word(v)));
    }
    s
}

/// `word` quoted for bash when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,%@".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// The jobs of one submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jobs {
    pub array: String,
    pub report: String,
    /// The point id of each array task.
    pub ids: Vec<String>,
    pub submitted: String,
}

/// Writes the scripts, copies this binary beside them, submits the array
/// and the collector; returns the jobs (also in `OUT/slurm/jobs.json`).
pub fn submit(project: &Project, plan: &Plan) -> Result<Jobs> {
    let dir = plan.out.join(DIR);
    std::fs::create_dir_all(dir.join("logs"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe().context("finding this program to copy for the tasks")?;
    let binary = dir.join(BINARY);
    let tmp = dir.join(format!(".{BINARY}.{}", std::process::id()));
    std::fs::copy(&exe, &tmp)
        .with_context(|| format!("copying {} to {}", exe.display(), tmp.display()))?;
    std::fs::rename(&tmp, &binary)
        .with_context(|| format!("renaming {} to {}", tmp.display(), binary.display()))?;
    let array = dir.join(ARRAY_SCRIPT);
    let report = dir.join(REPORT_SCRIPT);
    std::fs::write(&array, array_script(plan))
        .with_context(|| format!("writing {}", array.display()))?;
    std::fs::write(&report, report_script(plan))
        .with_context(|| format!("writing {}", report.display()))?;

    let sh = &project.sh;
    let array_id = cmd!(sh, "sbatch --parsable {array}")
        .read()
        .with_context(|| format!("submitting {} (`sbatch`; is Slurm's client installed and the cluster up? `sinfo` says)", array.display()))?;
    let array_id = job_id(&array_id)?;
    let after = format!("--dependency=afterany:{array_id}");
    let report_id = match cmd!(sh, "sbatch --parsable {after} {report}").read() {
        Ok(id) => job_id(&id)?,
        Err(e) => {
            let _ = cmd!(sh, "scancel {array_id}").quiet().run();
            return Err(e).with_context(|| {
                format!(
                    "submitting {} (the array {array_id} was cancelled)",
                    report.display()
                )
            });
        }
    };
    let jobs = Jobs {
        array: array_id,
        report: report_id,
        ids: plan.ids.clone(),
        submitted: crate::output::utc_now(sh),
    };
    crate::cache::write_json(&dir.join(JOBS), &jobs)?;
    Ok(jobs)
}

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
fn job_id(out: &str) -> Result<String> {
    let id = out.trim().split(';').next().unwrap_or_default().to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed `{}`, not a job id", out.trim());
    }
    Ok(id)
}

pub fn read_jobs(out: &Path) -> Result<Option<Jobs>> {
    crate::cache::read_json_if_present(&out.join(DIR).join(JOBS))
}

/// `squeue`'s view of the jobs: (job id with task, state, reason) per
/// line; empty once every job has left the queue.
pub fn queued(project: &Project, jobs: &Jobs) -> Result<Vec<(String, String, String)>> {
    let sh = &project.sh;
    let ids = format!("{},{}", jobs.array, jobs.report);
    let out = cmd!(sh, "squeue -h -j {ids} -o %i|%T|%R")
        .quiet()
        .ignore_stderr()
        .read()
        // squeue fails for ids it no longer knows: they have all ended.
        .unwrap_or_default();
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, '|');
            Some((
                f.next()?.to_string(),
                f.next()?.to_string(),
                f.next().unwrap_or("").to_string(),
            ))
        })
        .collect())
}

/// `sacct`'s states of the array's tasks, or `None` where the cluster
/// keeps no accounting.
pub fn accounted(project: &Project, jobs: &Jobs) -> Option<Vec<(String, String, String)>> {
    let sh = &project.sh;
    let id = &jobs.array;
    let out = cmd!(sh, "sacct -n -P -X -j {id} --format=JobID,State,Elapsed")
        .quiet()
        .ignore_stderr()
        .read()
        .ok()?;
    Some(
        out.lines()
            .filter_map(|l| {
                let mut f = l.split('|');
                Some((
                    f.next()?.to_string(),
                    f.next()?.to_string(),
                    f.next().unwrap_or("").to_string(),
                ))
            })
            .collect(),
    )
}

/// Cancels the jobs (Ctrl-C on `--wait`).
pub fn cancel(project: &Project, jobs: &Jobs) -> Result<()> {
    let sh = &project.sh;
    let (a, r) = (&jobs.array, &jobs.report);
    cmd!(sh, "scancel {a} {r}")
        .quiet()
        .run()
        .context("scancel")?;
    Ok(())
}

/// Waits until both jobs have left the queue, calling `tick` every poll;
/// `Some(signal)` when interrupted (the jobs are then cancelled).
pub fn wait(
    project: &Project,
    jobs: &Jobs,
    mut tick: impl FnMut(&[(String, String, String)]),
) -> Result<Option<i32>> {
    let signals = Signals::register()?;
    loop {
        if let Some(signal) = signals.caught() {
            cancel(project, jobs)?;
            eprintln!(
                "interrupted: cancelled jobs {} and {} (scancel)",
                jobs.array, jobs.report
            );
            return Ok(Some(signal));
        }
        let queue = queued(project, jobs)?;
        tick(&queue);
        if queue.is_empty() {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            name: "sst-compute".into(),
            file: "/p/experiments/sst-compute.toml".into(),
            config: "/p/acalsim.toml".into(),
            out: "/p/target/xtask/sweeps/sst compute".into(),
            ids: vec!["aaa".into(), "bbb".into(), "ccc".into()],
            cpus_per_task: 2,
            mem_mib: 5120,
            max_parallel: Some(2),
            partition: Some("debug".into()),
            sbatch_args: vec!["--time=01:00:00".into()],
            env: vec![("XDG_CACHE_HOME".into(), "/shared/cache".into())],
        }
    }

    #[test]
    fn the_array_script_has_one_task_per_point_throttled_and_a_cpu_per_vcpu() {
        let s = array_script(&plan());
        for line in [
            "#!/bin/bash",
            "#SBATCH --job-name=sweep-sst-compute",
            "#SBATCH --partition=debug",
            "#SBATCH --time=01:00:00",
            "#SBATCH --array=0-2%2",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --mem=5120M",
            "#SBATCH --output='/p/target/xtask/sweeps/sst compute/slurm/logs/%A_%a.out'",
            "export XDG_CACHE_HOME=/shared/cache",
            "ids=(aaa bbb ccc)",
            "exec '/p/target/xtask/sweeps/sst compute/slurm/xtask' --config /p/acalsim.toml sweep /p/experiments/sst-compute.toml --out '/p/target/xtask/sweeps/sst compute' --point \"${ids[$SLURM_ARRAY_TASK_ID]}\"",
        ] {
            assert!(s.lines().any(|l| l == line), "no line `{line}` in:\n{s}");
        }
        // Every #SBATCH line comes before the first command.
        let first_command = s
            .lines()
            .position(|l| l.starts_with("set "))
            .expect("a command");
        assert!(
            s.lines()
                .skip(first_command)
                .all(|l| !l.starts_with("#SBATCH")),
            "{s}"
        );
        let unthrottled = array_script(&Plan {
            max_parallel: None,
            ..plan()
        });
        assert!(
            unthrottled.contains("#SBATCH --array=0-2\n"),
            "{unthrottled}"
        );
    }

    #[test]
    fn the_collector_writes_the_tables() {
        let s = report_script(&plan());
        assert!(
            s.contains("#SBATCH --job-name=sweep-sst-compute-report\n"),
            "{s}"
        );
        assert!(
            s.trim_end()
                .ends_with("--out '/p/target/xtask/sweeps/sst compute' --report"),
            "{s}"
        );
    }

    #[test]
    fn sbatch_parsable_output_gives_the_job_id() {
        assert_eq!(job_id("42\n").unwrap(), "42");
        assert_eq!(job_id("42;cluster\n").unwrap(), "42");
        assert!(job_id("sbatch: error: x").is_err());
    }
}
