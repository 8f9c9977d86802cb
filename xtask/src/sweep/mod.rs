//! `cargo xtask sweep`: an experiment (a guest command over a matrix of
//! parameters) run as many co-simulation sessions, each point recorded
//! with what produced it.
//!
//! `spec` reads the experiment file; `template` and `plan` make its points
//! (pure); `point` runs one as a library call (`cosim::session` or `run`)
//! and records it with its `provenance`; `results` writes the tables and
//! the plot; `local` runs the points on this machine, `cluster` (with
//! `slurm`) as a Slurm job array.
//!
//! [`run`] reads as its steps: the file and its points; the results
//! directory, locked; the sweep's inputs (image, QEMU, SST side) checked
//! and named; the points already done, and a refusal to mix them with
//! results of other inputs; then the rest run here, and the tables.

mod cluster;
mod local;
mod matrix;
mod plan;
mod point;
mod provenance;
mod record;
mod results;
mod slurm;
mod spec;
mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::flags;
use crate::lock::{self, Mode};
use crate::project::Project;
use crate::run::{self, Request};
use plan::Point;
use point::Shared;
use provenance::Side;
use record::Record;
use spec::{Spec, SstSide};

/// The lock a sweep's results directory is held by while points run.
const LOCK: &str = "sweep.lock";

pub fn run(project: &Project, flags: &flags::Sweep) -> Result<i32> {
    let spec = spec::load(&flags.file)?;
    let points = plan::points(&spec);
    let out = out_dir(project, &spec, flags.out.as_deref());
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if flags.report {
        return report(&out, &spec, &points);
    }
    if flags.status {
        let done = results::recorded(&out, &points);
        return cluster::status(project, &spec.name, &out, &points, &done);
    }
    if let Some(id) = &flags.point {
        return one_point(project, flags, &spec, &points, &out, id);
    }
    run_points(project, flags, &spec, &points, &out)
}

/// `--report`: the tables from the records, nothing run.
fn report(out: &Path, spec: &Spec, points: &[Point]) -> Result<i32> {
    let done = results::recorded(out, points);
    let written = results::write_all(out, spec, points, &done)?;
    eprintln!(
        "sweep {}: {} of {} points recorded; wrote {}",
        spec.name,
        done.len(),
        points.len(),
        names(&written)
    );
    Ok(0)
}

/// The points not yet ok (all with `--force`), here or through Slurm.
fn run_points(
    project: &Project,
    flags: &flags::Sweep,
    spec: &Spec,
    points: &[Point],
    out: &Path,
) -> Result<i32> {
    let lock = match lock::try_lock(&out.join(LOCK), Mode::Exclusive)? {
        Ok(l) => l,
        Err(busy) => bail!("the sweep's results directory {} is in use ({busy}); wait for that sweep or give this one --out DIR", out.display()),
    };
    let shared = prepare(project, spec, out.to_path_buf())?;
    let done = results::recorded(out, points);
    refuse_mixing(&done, &shared.provenance, flags.force)?;
    let ok = |p: &&Point| done.get(&p.id).is_some_and(Record::ok);
    let already = points.iter().filter(ok).count();
    let todo: Vec<Point> = points
        .iter()
        .filter(|p| flags.force || !ok(p))
        .cloned()
        .collect();
    let guest = image_run(project, &shared.image);
    if flags.slurm {
        let jobs = cluster::submit(project, &shared, flags, &todo, &guest)?;
        // The tasks take the lock shared: let them start.
        drop(lock);
        return match (jobs, flags.wait) {
            (Some(jobs), true) => wait_for_slurm(project, &jobs, spec, points, out),
            _ => Ok(0),
        };
    }
    let jobs = flags
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| default_jobs(guest.smp));
    eprintln!(
        "sweep {}: {} points ({already} ok, {} to run) on `{}`{}, {jobs} at a time; results in {}",
        spec.name,
        points.len(),
        todo.len(),
        shared.image,
        if spec.warm { " (warm)" } else { "" },
        out.display()
    );
    let ran = local::run(project, &shared, points, &todo, jobs)?;
    let done = results::recorded(out, points);
    results::write_all(out, spec, points, &done)?;
    Ok(summary(out, spec, points, &done, ran.interrupted))
}

/// `--slurm --wait`: a line whenever more points are recorded, then the
/// tables and the summary (Ctrl-C cancels the jobs).
fn wait_for_slurm(
    project: &Project,
    jobs: &slurm::Jobs,
    spec: &Spec,
    points: &[Point],
    out: &Path,
) -> Result<i32> {
    let mut seen = usize::MAX;
    let interrupted = slurm::wait(project, jobs, |queue| {
        let n = results::recorded(out, points).len();
        if n != seen {
            seen = n;
            eprintln!(
                "  {n} of {} points recorded; {} queue entries",
                points.len(),
                queue.len()
            );
        }
    })?;
    let done = results::recorded(out, points);
    results::write_all(out, spec, points, &done)?;
    Ok(summary(out, spec, points, &done, interrupted))
}

/// `--point ID`: one point, as a Slurm task runs it. Other tasks run
/// beside it (the lock is shared); a signal (scancel) records it failed.
fn one_point(
    project: &Project,
    flags: &flags::Sweep,
    spec: &Spec,
    points: &[Point],
    out: &Path,
    id: &str,
) -> Result<i32> {
    let Some(p) = points.iter().find(|p| p.id == id) else {
        bail!(
            "{}: no point `{id}`; its points are {}",
            spec.file.display(),
            points
                .iter()
                .map(|p| p.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let _lock = match lock::try_lock(&out.join(LOCK), Mode::Shared)? {
        Ok(l) => l,
        Err(busy) => bail!(
            "the sweep's results directory {} is in use by a local sweep ({busy})",
            out.display()
        ),
    };
    let done = results::recorded(out, points);
    if !flags.force && done.get(id).is_some_and(Record::ok) {
        eprintln!(
            "sweep {}: point {id} ({}) is done; --force runs it again",
            spec.name,
            p.label()
        );
        return Ok(0);
    }
    let shared = prepare(project, spec, out.to_path_buf())?;
    refuse_mixing(&done, &shared.provenance, flags.force)?;
    let signals = run::Signals::register()?;
    let ran = point::run(project, &shared, p, point::OnSignal::Record, &|| {
        signals.caught()
    })?;
    match ran {
        point::Ran::Recorded(r) => {
            eprintln!(
                "sweep {}: point {id} ({}): {} in {:.1} s",
                spec.name,
                p.label(),
                r.result,
                r.wall_secs
            );
            Ok(if r.ok() { 0 } else { 1 })
        }
        point::Ran::Interrupted => Ok(130),
    }
}

/// `--out`, else target/xtask/sweeps/NAME.
fn out_dir(project: &Project, spec: &Spec, out: Option<&Path>) -> PathBuf {
    match out {
        Some(dir) => dir.to_path_buf(),
        None => project.xtask_dir().join("sweeps").join(&spec.name),
    }
}

/// The image, QEMU and SST side every point uses, checked before any
/// point starts, and their provenance.
fn prepare<'a>(project: &Project, spec: &'a Spec, out: PathBuf) -> Result<Shared<'a>> {
    let config = project.config()?;
    let side = match &spec.sst {
        SstSide::Peer { .. } => Side::Peer,
        SstSide::Command { .. } => Side::Sst,
        SstSide::None => Side::None,
    };
    let image = match (&spec.image, side) {
        (Some(image), _) => image.clone(),
        (None, Side::None) => config.default_image.clone(),
        (None, _) => config
            .cosim
            .image
            .clone()
            .unwrap_or_else(|| config.default_image.clone()),
    };
    let request = Request {
        image: Some(image.clone()),
        command: spec.command.clone(),
        warm: spec.warm,
        sst_socket: (side != Side::None).then(|| "SOCKET".into()),
        ..Request::default()
    };
    run::check(project, &request)
        .with_context(|| format!("{}: the sweep's image `{image}`", spec.file.display()))?;
    let (built, qemu) = run::inputs(project, &request)?;
    let provenance = provenance::gather(project, &built, &qemu, side)?;
    let sst_dir = match &spec.sst {
        SstSide::Command { dir: Some(dir), .. } => project.root.join(dir),
        _ => config
            .cosim
            .sst_dir
            .as_ref()
            .map_or(project.root.clone(), |d| project.root.join(d)),
    };
    Ok(Shared {
        spec,
        image,
        provenance,
        out,
        sst_dir,
        listen_timeout: config.cosim.listen_timeout,
    })
}

/// Results of other inputs are never mixed with these, unless `force`.
fn refuse_mixing(
    done: &BTreeMap<String, Record>,
    now: &provenance::Provenance,
    force: bool,
) -> Result<()> {
    let mut changes: BTreeMap<Vec<String>, Vec<&str>> = BTreeMap::new();
    for r in done.values() {
        let changed = provenance::changed(&r.provenance, now);
        if !changed.is_empty() {
            changes.entry(changed).or_default().push(&r.id);
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    let detail: Vec<String> = changes
        .iter()
        .map(|(lines, ids)| {
            format!(
                "  {} point(s) ({}…):\n    {}",
                ids.len(),
                ids[0],
                lines.join("\n    ")
            )
        })
        .collect();
    if force {
        eprintln!(
            "sweep: --force: mixing with points of other inputs:\n{}",
            detail.join("\n")
        );
        return Ok(());
    }
    bail!(
        "the inputs changed since points of this sweep were recorded, so their results would not compare:\n{}\n\
         Give --out DIR to start a new results directory, or --force to run every point again with these inputs",
        detail.join("\n")
    )
}

/// The image's `run` defaults: the vCPUs and memory each point's guest gets.
fn image_run(project: &Project, image: &str) -> crate::config::RunDefaults {
    crate::manifest::Manifest::read(&project.images_dir().join(image))
        .map(|m| m.run)
        .unwrap_or(crate::config::RunDefaults {
            smp: 1,
            memory_mib: 1024,
        })
}

/// As many sessions as the cores hold guests of `smp` vCPUs, at least one.
pub fn default_jobs(smp: u32) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / smp.max(1) as usize).max(1)
}

fn names(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The closing lines; the exit status: 0 when every point ended ok.
fn summary(
    out: &Path,
    spec: &Spec,
    points: &[Point],
    done: &BTreeMap<String, Record>,
    interrupted: Option<i32>,
) -> i32 {
    let ok = points
        .iter()
        .filter(|p| done.get(&p.id).is_some_and(Record::ok))
        .count();
    let failed: Vec<(&Point, &Record)> = points
        .iter()
        .filter_map(|p| done.get(&p.id).filter(|r| !r.ok()).map(|r| (p, r)))
        .collect();
    let missing = points.len() - ok - failed.len();
    eprintln!(
        "sweep {}: {ok} of {} points ok, {} failed, {missing} not run; {} ({})",
        spec.name,
        points.len(),
        failed.len(),
        out.join(results::CSV).display(),
        [results::JSON, results::MARKDOWN].join(", ")
    );
    for (p, r) in &failed {
        eprintln!(
            "  failed: {} ({}): {}; logs in {}",
            p.id,
            p.label(),
            r.result,
            point::points_dir(out).join(&p.id).display()
        );
    }
    match interrupted {
        Some(signal) => {
            eprintln!(
                "interrupted: the next `cargo xtask sweep {}` runs the {missing} missing point(s)",
                spec.file.display()
            );
            128 + signal
        }
        None if ok == points.len() => 0,
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_with(p: &provenance::Provenance) -> Record {
        serde_json::from_value(serde_json::json!({
            "schema": 1, "sweep": "t", "file": "t.toml", "id": "abc", "params": {}, "repeat": 1,
            "image": "cosim", "warm": true, "argv": [], "env": [], "sst": null, "status": 0,
            "result": "ok", "started": "", "wall_secs": 1.0, "restore_secs": null, "metrics": {},
            "provenance": serde_json::to_value(p).expect("provenance"), "host": "h", "logs": []
        }))
        .expect("a record")
    }

    #[test]
    fn results_of_other_inputs_are_refused_unless_forced() {
        let then = provenance::tests::sample();
        let mut now = then.clone();
        let done: BTreeMap<String, Record> = [("abc".to_string(), record_with(&then))].into();
        assert!(
            refuse_mixing(&done, &now, false).is_ok(),
            "the same inputs mix"
        );
        now.qemu.sha256 = "ee".repeat(32);
        let e = refuse_mixing(&done, &now, false).expect_err("another QEMU");
        assert!(
            format!("{e}").contains("1 point(s) (abc…):\n    QEMU:"),
            "{e}"
        );
        assert!(
            refuse_mixing(&done, &now, true).is_ok(),
            "--force mixes them"
        );
    }
}
