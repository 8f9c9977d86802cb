//! The `sweep` suite: what a sweep costs beyond its jobs, and how many
//! points an hour it runs, here and through Slurm, in one invocation.
//!
//! - **Overhead per point**: a generated experiment whose job only prints
//!   `{}` (its own time is a few milliseconds), warm, with the reference
//!   peer: every point's wall time (from its start to its record) is the
//!   overhead of a warm session. Goal: at most 1.5 s.
//! - **Points per hour**: `experiments/tiny-llama.toml` (`--quick`:
//!   `experiments/sst-compute.toml`) as a whole `cargo xtask sweep` command
//!   at `--jobs 1` and `--jobs 2`, every point run (`--force`), the snapshot
//!   saved beforehand (a warm `cosim … -- true`) so no row pays for it.
//! - **Slurm over local**: the same experiment with `--slurm --wait
//!   --max-parallel 1` against `--jobs 1`, when a cluster answers `sinfo`;
//!   goal: at most 1.10×. Without a cluster the row is left out, and said so.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use super::results::{self, Figure, Goal, Suite};
use crate::flags;
use crate::project::Project;

const OVERHEAD_POINTS: usize = 5;

pub fn suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let config = project.config()?;
    let image = config
        .cosim
        .image
        .clone()
        .unwrap_or(config.default_image.clone());
    let dir = project.xtask_dir().join("bench/sweep");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let guest = results::guest(project, &image, None, None)?;
    warm_up(project, &image)?;
    let mut figures = overhead(project, &dir, &image)?;

    let experiment = project.root.join(match flags.quick {
        true => "experiments/sst-compute.toml",
        false => "experiments/tiny-llama.toml",
    });
    let name = experiment
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut local_one = None;
    for jobs in [1, 2] {
        let (secs, points) = timed_sweep(
            project,
            &experiment,
            &dir.join(format!("{name}-jobs{jobs}")),
            &["--jobs", &jobs.to_string()],
        )?;
        eprintln!("bench: sweep {name} --jobs {jobs}: {points} points in {secs:.1} s");
        figures.push(Figure::single(
            &format!("{name}: points per hour, --jobs {jobs}"),
            points as f64 * 3600.0 / secs,
            "points/h",
            None,
        ));
        if jobs == 1 {
            local_one = Some(secs);
        }
    }
    match slurm_answers(project) {
        Some(why) => {
            eprintln!("bench: no Slurm cluster answers ({why}): the Slurm row is left out")
        }
        None => {
            let (secs, points) = timed_sweep(
                project,
                &experiment,
                &dir.join(format!("{name}-slurm")),
                &["--slurm", "--wait", "--max-parallel", "1"],
            )?;
            eprintln!(
                "bench: sweep {name} --slurm --max-parallel 1: {points} points in {secs:.1} s"
            );
            if let Some(local) = local_one {
                figures.push(Figure::single(
                    &format!("{name}: Slurm (one task at a time) over local --jobs 1"),
                    secs / local,
                    "×",
                    Some(Goal::AtMost(1.10)),
                ));
            }
        }
    }
    Ok(Suite {
        suite: "sweep".into(),
        image,
        guest: Some(guest),
        figures,
    })
}

/// The warm sessions of a job that only prints `{}`: their wall times.
fn overhead(project: &Project, dir: &Path, image: &str) -> Result<Vec<Figure>> {
    let file = dir.join("overhead.toml");
    let values: Vec<String> = (1..=OVERHEAD_POINTS).map(|i| i.to_string()).collect();
    let text = format!(
        "# Written by `cargo xtask bench sweep`: a warm session per point, its job only prints {{}}.\n\
         image = \"{image}\"\nwarm = true\ntimeout = 300\ncommand = [\"echo\", \"{{{{}}}}\"]\n\n[matrix]\nn = [{}]\n",
        values.join(", ")
    );
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    let out = dir.join("overhead");
    let (_, points) = timed_sweep(project, &file, &out, &["--jobs", "1"])?;
    let records: serde_json::Value = crate::cache::read_json(&out.join("results.json"))?;
    let rows = records
        .as_array()
        .context("results.json: a list of records")?;
    // The first point may have saved the snapshot: only the later ones count.
    let walls: Vec<f64> = rows
        .iter()
        .skip(1)
        .filter_map(|r| r["wall_secs"].as_f64())
        .collect();
    let restores: Vec<f64> = rows
        .iter()
        .skip(1)
        .filter_map(|r| r["restore_secs"].as_f64())
        .collect();
    if walls.is_empty() || points != OVERHEAD_POINTS {
        bail!(
            "bench: the overhead sweep recorded {points} of {OVERHEAD_POINTS} points ({})",
            out.display()
        );
    }
    Ok(vec![
        Figure::new(
            "warm point overhead (job: echo {})",
            walls,
            "s",
            Some(Goal::AtMost(1.5)),
        ),
        Figure::new("of it, the restore", restores, "s", None),
    ])
}

/// One whole `cargo xtask sweep FILE --out OUT --force ARGS`: its seconds
/// and the points it recorded ok.
fn timed_sweep(project: &Project, file: &Path, out: &Path, args: &[&str]) -> Result<(f64, usize)> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let config = &project.config_path;
    let _ = std::fs::remove_dir_all(out);
    let started = Instant::now();
    let run = cmd!(
        project.sh,
        "{exe} --config {config} sweep {file} --out {out} --force {args...}"
    )
    .quiet()
    .ignore_status()
    .output()
    .with_context(|| format!("bench: starting `cargo xtask sweep {}`", file.display()))?;
    let secs = started.elapsed().as_secs_f64();
    let results: serde_json::Value = crate::cache::read_json(&out.join("results.json"))
        .with_context(|| {
            format!(
                "bench: `cargo xtask sweep {}` wrote no results:\n{}",
                file.display(),
                String::from_utf8_lossy(&run.stderr)
            )
        })?;
    let ok = results.as_array().map_or(0, |rows| {
        rows.iter().filter(|r| r["result"] == "ok").count()
    });
    Ok((secs, ok))
}

/// The snapshot every timed sweep restores (all of them run `image` with
/// the peer, so one key), saved before anything is timed: a warm `true`.
fn warm_up(project: &Project, image: &str) -> Result<()> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let config = &project.config_path;
    let out = cmd!(
        project.sh,
        "{exe} --config {config} cosim {image} --warm -- true"
    )
    .quiet()
    .ignore_status()
    .output()
    .context("bench: starting `cargo xtask cosim --warm`")?;
    if !out.status.success() {
        bail!(
            "bench: the warm-up `cargo xtask cosim {image} --warm -- true` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `None` when `sinfo` answers; else why not.
fn slurm_answers(project: &Project) -> Option<String> {
    match cmd!(project.sh, "sinfo -h -o %T")
        .quiet()
        .ignore_stderr()
        .read()
    {
        Ok(states) if !states.trim().is_empty() => None,
        Ok(_) => Some("sinfo lists no node".into()),
        Err(e) => Some(format!("{e}")),
    }
}
