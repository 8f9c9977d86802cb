//! `sweep --slurm` and `sweep --status`: the sweep's per-sweep work done
//! here (the snapshot saved by a warm `true` of the sweep's machine), the
//! points submitted as an array (`slurm`), waited for on `--wait`, and the
//! points' state read back from their records and Slurm's queue.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::plan::Point;
use super::point::Shared;
use super::record::Record;
use super::slurm::{self, Jobs};
use super::spec::SstSide;
use crate::config::RunDefaults;
use crate::cosim::{self, Settings};
use crate::flags;
use crate::project::Project;
use crate::run::{self, Request};

/// Submits `todo`; with `--wait`, waits and returns the sweep's exit status.
pub fn submit(
    project: &Project,
    shared: &Shared,
    flags: &flags::Sweep,
    todo: &[Point],
    guest: &RunDefaults,
) -> Result<Option<Jobs>> {
    if todo.is_empty() {
        eprintln!(
            "sweep {}: every point is done; nothing to submit",
            shared.spec.name
        );
        return Ok(None);
    }
    if shared.spec.warm {
        warm_up(project, shared)?;
    }
    let plan = slurm::Plan {
        name: shared.spec.name.clone(),
        file: absolute(&shared.spec.file)?,
        config: absolute(&project.config_path)?,
        out: absolute(&shared.out)?,
        ids: todo.iter().map(|p| p.id.clone()).collect(),
        cpus_per_task: guest.smp,
        mem_mib: guest.memory_mib + slurm::QEMU_MEMORY_MIB,
        max_parallel: flags.max_parallel,
        partition: flags.partition.clone(),
        sbatch_args: flags.sbatch_arg.clone(),
        env: ["XDG_CACHE_HOME", "ACALSIM_SRC"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
            .collect(),
    };
    let jobs = slurm::submit(project, &plan)?;
    eprintln!(
        "sweep {}: submitted array job {} ({} tasks{}) and collector job {} (afterany); scripts in {}\n  \
         `cargo xtask sweep {} --status` shows where the points are",
        shared.spec.name,
        jobs.array,
        jobs.ids.len(),
        flags.max_parallel.map(|k| format!(", at most {k} at once")).unwrap_or_default(),
        jobs.report,
        plan.out.join(slurm::DIR).display(),
        shared.spec.file.display()
    );
    Ok(Some(jobs))
}

/// Saves the snapshot every point restores, before any task starts: a
/// warm `true` on the sweep's machine (its SST side, if any, the peer:
/// the snapshot does not depend on it).
fn warm_up(project: &Project, shared: &Shared) -> Result<()> {
    let logs = shared.out.join(slurm::DIR).join("warm-up");
    let request = Request {
        image: Some(shared.image.clone()),
        command: vec!["true".into()],
        warm: true,
        folder: Some(logs.clone()),
        ..Request::default()
    };
    eprintln!(
        "sweep {}: the snapshot, saved here before submitting (a warm `true`)",
        shared.spec.name
    );
    let status = match shared.spec.sst {
        SstSide::None => run::run_finished(project, &request, None, None)?.status,
        _ => {
            let settings = Settings {
                sst: None,
                sst_dir: shared.sst_dir.clone(),
                socket: None,
                listen_timeout: shared.listen_timeout,
                cycles_per_unit: crate::sst::protocol::COMPONENT_CYCLES_PER_UNIT,
            };
            cosim::session(project, &settings, &request, None)?.status
        }
    };
    if status != 0 {
        bail!("the warm-up run (a warm `true`) ended with status {status}; nothing was submitted (logs: {})", logs.display());
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
}

/// Where each point is: its record's result, else the queue's state.
pub fn status(
    project: &Project,
    spec_name: &str,
    out: &Path,
    points: &[Point],
    done: &BTreeMap<String, Record>,
) -> Result<i32> {
    let jobs = slurm::read_jobs(out)?;
    let queue = match &jobs {
        Some(j) => slurm::queued(project, j)?,
        None => vec![],
    };
    let states = jobs
        .as_ref()
        .map(|j| task_states(j, &queue))
        .unwrap_or_default();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    println!("{:<12}  {:<10}  PARAMETERS / RESULT", "POINT", "STATE");
    for p in points {
        let (state, detail) = match (done.get(&p.id), states.get(&p.id)) {
            (Some(r), _) if r.ok() => ("ok", format!("{}  {:.1} s", p.label(), r.wall_secs)),
            (_, Some((state, job))) => (state.as_str(), format!("{}  job {job}", p.label())),
            (Some(r), None) => ("failed", format!("{}  {}", p.label(), r.result)),
            (None, None) => ("missing", p.label()),
        };
        *counts.entry(state).or_default() += 1;
        println!("{:<12}  {:<10}  {detail}", p.id, state.to_lowercase());
    }
    let summary: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{n} {}", s.to_lowercase()))
        .collect();
    println!(
        "sweep {spec_name}: {} points: {}",
        points.len(),
        summary.join(", ")
    );
    if let Some(j) = &jobs {
        let queued = if queue.is_empty() {
            "none in the queue".to_string()
        } else {
            format!("{} queue entries", queue.len())
        };
        println!(
            "slurm: array job {}, collector job {} (submitted {}); {queued}",
            j.array, j.report, j.submitted
        );
        match slurm::accounted(project, j) {
            Some(rows) if !rows.is_empty() => {
                for (id, state, elapsed) in rows {
                    println!("  sacct {id}: {state} ({elapsed})");
                }
            }
            _ => println!(
                "  (sacct gave nothing: no accounting on this cluster, or no cluster answering)"
            ),
        }
    }
    Ok(0)
}

/// Point id → (Slurm state, job) for the tasks in the queue.
fn task_states(
    jobs: &Jobs,
    queue: &[(String, String, String)],
) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for (job, state, _) in queue {
        let Some(tasks) = job.strip_prefix(&format!("{}_", jobs.array)) else {
            continue;
        };
        for index in task_indices(tasks) {
            if let Some(id) = jobs.ids.get(index) {
                out.insert(id.clone(), (state.clone(), job.clone()));
            }
        }
    }
    out
}

/// `3` or `[0-5%2]` or `[1,3,5-7]` → the task indices.
pub fn task_indices(tasks: &str) -> Vec<usize> {
    let inner = tasks.trim_start_matches('[').trim_end_matches(']');
    let inner = inner.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squeue_task_ranges_name_their_tasks() {
        assert_eq!(task_indices("3"), [3]);
        assert_eq!(task_indices("[0-3%2]"), [0, 1, 2, 3]);
        assert_eq!(task_indices("[1,4-5]"), [1, 4, 5]);
        let jobs = Jobs {
            array: "7".into(),
            report: "8".into(),
            ids: vec!["a".into(), "b".into(), "c".into()],
            submitted: String::new(),
        };
        let queue = [
            ("7_0".to_string(), "RUNNING".to_string(), "vm".to_string()),
            (
                "7_[1-2%1]".to_string(),
                "PENDING".to_string(),
                "(JobArrayTaskLimit)".to_string(),
            ),
            (
                "8".to_string(),
                "PENDING".to_string(),
                "(Dependency)".to_string(),
            ),
        ];
        let states = task_states(&jobs, &queue);
        assert_eq!(states["a"].0, "RUNNING");
        assert_eq!(
            states["c"],
            ("PENDING".to_string(), "7_[1-2%1]".to_string())
        );
        assert_eq!(states.len(), 3);
    }
}
