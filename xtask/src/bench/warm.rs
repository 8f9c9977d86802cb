//! The warm rows of the `boot` and `torch` suites: a whole `cargo xtask run
//! --warm IMAGE -- CMD` beside the same run without `--warm`, measured in one
//! invocation, with the restore time and the snapshot's size and save time.
//! A snapshot missing at the start is made first by a warm run of `true`,
//! which is reported as its own figure (boot, warm-up import and save).

use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use super::results::{Figure, Goal};
use crate::progress::human_duration;
use crate::project::Project;
use crate::run::phases;
use crate::snapshot::store::{self, Record, Store, STATE};

/// What a warm run said on stderr, and how long the whole run took.
struct WarmRun {
    secs: f64,
    stdout: String,
    /// `warm: restored snapshot KEY in SECSs`.
    restored: Option<(String, f64)>,
    /// Whether this run made the snapshot (`warm: saved …`).
    saved: bool,
    /// The restore's phases, as `-v` printed them (run/phases.rs).
    phases: Vec<(String, f64)>,
}

/// One whole `cargo xtask run [--warm] IMAGE -- command`: seconds, stdout, stderr.
fn timed_run(
    project: &Project,
    image: &str,
    warm: bool,
    command: &[String],
) -> Result<(f64, String, String)> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let config_path = &project.config_path;
    let warm_flag = warm.then_some("--warm");
    // -v: a warm run prints its phase table.
    let verbose = warm.then_some("-v");
    let started = Instant::now();
    let out = cmd!(
        project.sh,
        "{exe} {verbose...} --config {config_path} run {warm_flag...} {image} -- {command...}"
    )
    .quiet()
    .ignore_status()
    .output()
    .with_context(|| format!("bench: starting `cargo xtask run {image}`"))?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        let hint = match warm {
            true => "\n(the warm rows need the project's QEMU 10.2: `ACALSIM_SRC=PATH cargo xtask qemu build`; `bench --no-warm` leaves them out)",
            false => "",
        };
        bail!(
            "bench: `cargo xtask run {} {image} -- {}` failed ({}):\n{stderr}{hint}",
            warm_flag.unwrap_or(""),
            command.join(" "),
            out.status
        );
    }
    Ok((
        secs,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
    ))
}

fn warm_run(project: &Project, image: &str, command: &[String]) -> Result<WarmRun> {
    let (secs, stdout, stderr) = timed_run(project, image, true, command)?;
    Ok(WarmRun {
        secs,
        stdout,
        restored: restored_line(&stderr),
        saved: stderr.lines().any(|l| l.starts_with("warm: saved")),
        phases: phases::parse(&stderr),
    })
}

/// The snapshot and seconds of a `warm: restored snapshot KEY in 0.41s` line.
fn restored_line(stderr: &str) -> Option<(String, f64)> {
    stderr.lines().find_map(|l| {
        let rest = l.strip_prefix("warm: restored snapshot ")?;
        let (key, secs) = rest.split_once(" in ")?;
        Some((
            key.to_string(),
            secs.trim().strip_suffix('s')?.parse().ok()?,
        ))
    })
}

/// What the repeats measured: seconds of the cold runs (none when given)
/// and of the warm ones, the restores, and the snapshot they restored.
struct Samples {
    cold: Vec<f64>,
    warm: Vec<f64>,
    restore: Vec<f64>,
    /// Each warm run's phases.
    phases: Vec<Vec<(String, f64)>>,
    snapshot: String,
}

/// The warm figures for `command` (called `what` in their names): one cold
/// and one warm run per repeat, alternating, and their ratio against `goal`.
/// `cold` may hold cold samples of `command` measured already in this
/// invocation; then only warm runs are made.
pub fn figures(
    project: &Project,
    image: &str,
    what: &str,
    command: &[String],
    cold: Option<&[f64]>,
    repeats: usize,
    goal: Option<Goal>,
) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let first = warm_run(project, image, &["true".to_string()])?;
    if first.saved {
        eprintln!(
            "bench: warm: first run of {image} (boot, warm-up, save): {}",
            human_duration(first.secs)
        );
        figures.push(Figure::new(
            "warm: first run (boot, warm-up, save)",
            vec![first.secs],
            "s",
            None,
        ));
    }
    let mut samples = measure(project, image, what, command, cold.is_none(), repeats)?;
    if let Some(given) = cold {
        samples.cold = given.to_vec();
    } else {
        figures.push(Figure::new(
            &format!("{what}, cold"),
            samples.cold.clone(),
            "s",
            None,
        ));
    }
    figures.push(Figure::new(
        &format!("{what}, warm"),
        samples.warm.clone(),
        "s",
        None,
    ));
    figures.push(Figure::new(
        &format!("{what}, warm / cold"),
        ratios(&samples.warm, &samples.cold),
        "x",
        goal,
    ));
    figures.push(Figure::new("warm: restore", samples.restore, "s", None));
    figures.extend(phase_figures(what, &samples.phases));
    figures.extend(snapshot_figures(&samples.snapshot)?);
    Ok(figures)
}

/// `repeats` warm runs of `command`, each after a cold one when `with_cold`;
/// a warm run must restore and print what the cold one printed.
fn measure(
    project: &Project,
    image: &str,
    what: &str,
    command: &[String],
    with_cold: bool,
    repeats: usize,
) -> Result<Samples> {
    let mut s = Samples {
        cold: Vec::new(),
        warm: Vec::new(),
        restore: Vec::new(),
        phases: Vec::new(),
        snapshot: String::new(),
    };
    for i in 0..repeats {
        let cold_stdout = match with_cold {
            true => {
                let (secs, stdout, _) = timed_run(project, image, false, command)?;
                s.cold.push(secs);
                Some(stdout)
            }
            false => None,
        };
        let warm = warm_run(project, image, command)?;
        let (key, restore) = warm.restored.clone().with_context(|| {
            format!("bench: the warm run of `{what}` did not restore a snapshot")
        })?;
        if let Some(cold_stdout) = cold_stdout.filter(|c| *c != warm.stdout) {
            bail!(
                "bench: `{what}` printed differently warm and cold:\ncold: {cold_stdout}\nwarm: {}",
                warm.stdout
            );
        }
        eprintln!(
            "bench: {what} #{}: warm {} (restore {restore:.2}s){}",
            i + 1,
            human_duration(warm.secs),
            s.cold
                .last()
                .map(|c| format!(", cold {}", human_duration(*c)))
                .unwrap_or_default()
        );
        s.warm.push(warm.secs);
        s.restore.push(restore);
        s.phases.push(warm.phases);
        s.snapshot = key;
    }
    Ok(s)
}

/// One figure per phase of the warm runs of `what` (their median is the
/// figure's value), in the order the first run gave them.
fn phase_figures(what: &str, runs: &[Vec<(String, f64)>]) -> Vec<Figure> {
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in runs.iter().flatten() {
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let samples = runs
                .iter()
                .flat_map(|run| run.iter().filter(|(n, _)| n == name).map(|(_, s)| *s))
                .collect();
            Figure::new(&format!("{what}, warm phase: {name}"), samples, "s", None)
        })
        .collect()
}

/// Warm over cold, pairwise; against the cold median when the counts differ.
fn ratios(warm: &[f64], cold: &[f64]) -> Vec<f64> {
    if warm.len() == cold.len() {
        return warm.iter().zip(cold).map(|(w, c)| w / c).collect();
    }
    let cold = Figure::new("cold", cold.to_vec(), "s", None).value;
    warm.iter().map(|w| w / cold).collect()
}

/// The size of the snapshot `key` (its RAM file and all it holds on disk)
/// and the save time its record gives.
fn snapshot_figures(key: &str) -> Result<Vec<Figure>> {
    let dir = Store::open()?.path(key);
    let record: Record = crate::cache::read_json_if_present(&dir.join(store::RECORD))?
        .with_context(|| format!("bench: no record in {}", dir.display()))?;
    let ram = record
        .files
        .iter()
        .find(|f| f.name == STATE)
        .map_or(0, |f| f.size);
    let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
    Ok(vec![
        Figure::new(
            "warm: snapshot on disk",
            vec![mib(store::allocated(&dir))],
            "MiB",
            None,
        ),
        Figure::new(
            "warm: snapshot RAM file, logical size",
            vec![mib(ram)],
            "MiB",
            None,
        ),
        Figure::new("warm: snapshot save", vec![record.save_secs], "s", None),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_restore_line_gives_the_snapshot_and_its_seconds() {
        let err = "warm: snapshot x\nwarm: restored snapshot 0123456789abcdef in 0.41s\n";
        assert_eq!(
            restored_line(err),
            Some(("0123456789abcdef".to_string(), 0.41))
        );
        assert_eq!(restored_line("warm: saved in 5.4s after …"), None);
    }

    #[test]
    fn each_phase_is_a_figure_of_its_runs_in_the_order_they_ran() {
        let run = |a: f64, b: f64| vec![("lock".to_string(), a), ("QEMU stop".to_string(), b)];
        let figures = phase_figures(
            "whole run `true`",
            &[run(0.1, 0.3), run(0.2, 0.5), run(0.3, 0.4)],
        );
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[0].name, "whole run `true`, warm phase: lock");
        assert_eq!(figures[0].samples, [0.1, 0.2, 0.3]);
        assert_eq!(figures[1].value, 0.4, "the median");
    }

    #[test]
    fn ratios_pair_the_runs_or_divide_by_the_cold_median() {
        assert_eq!(ratios(&[1.0, 2.0], &[10.0, 10.0]), [0.1, 0.2]);
        assert_eq!(ratios(&[1.0], &[8.0, 10.0, 12.0]), [0.1]);
    }
}
