//! Suite `compile`: the same `cargo xtask pytorch build` target built twice
//! from a clean build directory without ccache — compiles offloaded to the
//! host's cross g++ through distcc, then in the guest only — with the same g++
//! both times (the version the offload matched), so the ratio measures the
//! offload and nothing else. The compile phase comes from the stamped build
//! log: first to last finished compile step.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::cmd;

use super::results::{self, Figure, Goal, Suite};
use crate::flags;
use crate::progress::human_duration;
use crate::project::Project;

/// The image `pytorch build` uses by default, with the pinned compilers.
const IMAGE: &str = "pytorch-build";

pub fn suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let guest = results::guest(project, IMAGE, None, None)?;
    // [offloaded, in the guest]: seconds of each repeat.
    let mut wall = [Vec::new(), Vec::new()];
    let mut phase = [Vec::new(), Vec::new()];
    let mut gcc: Option<u32> = None;
    for i in 0..flags.repeats() {
        for (k, offload) in [true, false].into_iter().enumerate() {
            // The guest-only build uses the g++ the offloaded one matched.
            let build = timed_build(project, &exe, flags, offload, gcc)?;
            if offload {
                gcc = gcc.or(build.gcc);
            }
            eprintln!(
                "bench: compile #{} {}: whole {} , compile phase {} (g++-{})",
                i + 1,
                if offload { "offloaded" } else { "in the guest" },
                human_duration(build.wall),
                human_duration(build.phase),
                build
                    .gcc
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| "?".into())
            );
            wall[k].push(build.wall);
            phase[k].push(build.phase);
        }
    }
    Ok(Suite {
        suite: "compile".into(),
        image: IMAGE.into(),
        guest: Some(guest),
        figures: compile_figures(&flags.compile_target, gcc, &wall, &phase),
    })
}

/// One `pytorch build` of the suite's target, as the bench measured it.
struct TimedBuild {
    /// The whole command, seconds.
    wall: f64,
    /// First to last compile step, seconds.
    phase: f64,
    /// The g++ major build.sh announced.
    gcc: Option<u32>,
}

/// `pytorch build --clean --no-ccache` of the target, offloaded or (with
/// `gcc`, when known) in the guest only; timed and read back from its log.
fn timed_build(
    project: &Project,
    exe: &Path,
    flags: &flags::Bench,
    offload: bool,
    gcc: Option<u32>,
) -> Result<TimedBuild> {
    let (config_path, image) = (&project.config_path, IMAGE);
    let log = project.logs_dir().join("pytorch-build.log");
    let (source, target) = (&flags.compile_source, &flags.compile_target);
    let mut how: Vec<String> = vec![];
    if !offload {
        how.push("--no-offload".into());
        if let Some(major) = gcc {
            how.extend(["--gcc".into(), major.to_string()]);
        }
    }
    let how_args = how.clone();
    let start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    cmd!(project.sh, "{exe} --config {config_path} pytorch build --image {image} --source {source} --target {target} --clean --no-ccache {how_args...}")
        .quiet()
        .run()
        .with_context(|| format!("bench compile: `pytorch build --source {source} --target {target} {}` failed", how.join(" ")))?;
    let wall = t.elapsed().as_secs_f64();
    let text = std::fs::read(&log).with_context(|| format!("reading {}", log.display()))?;
    let this_run = String::from_utf8_lossy(&text[(start as usize).min(text.len())..]).into_owned();
    let phase = compile_phase(&this_run)
        .with_context(|| format!("no compile steps in this run's part of {}", log.display()))?;
    Ok(TimedBuild {
        wall,
        phase,
        gcc: compiler_major(&this_run),
    })
}

/// Both compile phases and whole commands, and the guest/offloaded ratios.
fn compile_figures(
    target: &str,
    gcc: Option<u32>,
    wall: &[Vec<f64>; 2],
    phase: &[Vec<f64>; 2],
) -> Vec<Figure> {
    let ratio = |v: &[Vec<f64>; 2]| {
        v[1].iter()
            .zip(&v[0])
            .map(|(guest, off)| guest / off)
            .collect::<Vec<_>>()
    };
    let what = format!(
        "{target}, g++-{}",
        gcc.map(|m| m.to_string()).unwrap_or_else(|| "?".into())
    );
    vec![
        Figure::new(
            &format!("compile phase, offloaded ({what})"),
            phase[0].clone(),
            "s",
            None,
        ),
        Figure::new(
            &format!("compile phase, in the guest ({what})"),
            phase[1].clone(),
            "s",
            None,
        ),
        Figure::new(
            "compile phase speedup from offload",
            ratio(phase),
            "x",
            Some(Goal::AtLeast(4.0)),
        ),
        Figure::new("whole command, offloaded", wall[0].clone(), "s", None),
        Figure::new("whole command, in the guest", wall[1].clone(), "s", None),
        Figure::new("whole command speedup from offload", ratio(wall), "x", None),
    ]
}

/// Seconds from the first to the last finished compile step of a stamped
/// build log (`[  12.3s] [4/35] Building CXX object …`).
pub fn compile_phase(log: &str) -> Option<f64> {
    let stamps: Vec<f64> = log
        .lines()
        .filter(|l| l.contains("] Building C"))
        .filter_map(|l| l.strip_prefix('[')?.split_once("s]")?.0.trim().parse().ok())
        .collect();
    Some(stamps.last()? - stamps.first()?)
}

/// The g++ major build.sh announced: `build.sh: riscv64-linux-gnu-g++-15 (15.3.0), …`.
pub fn compiler_major(log: &str) -> Option<u32> {
    let line = log
        .lines()
        .rfind(|l| l.contains("build.sh: ") && l.contains("g++-"))?;
    let after = line.split("g++-").nth(1)?;
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[     0.1s] build.sh: riscv64-linux-gnu-g++-15 (15.3.0), 3 jobs, offload 10.0.2.2:36337, launcher none, target ninja
[    20.0s] -- Configuring done
[    31.5s] [1/35] Building CXX object CMakeFiles/libninja-re2c.dir/src/depfile_parser.cc.o
[    40.0s] [2/35] Building C object CMakeFiles/x.dir/y.c.o
[    81.0s] [34/35] Building CXX object CMakeFiles/ninja.dir/src/ninja.cc.o
[   190.0s] [35/35] Linking CXX executable ninja
";

    #[test]
    fn compile_phase_spans_the_first_to_the_last_compile_step() {
        assert_eq!(compile_phase(LOG), Some(81.0 - 31.5));
        assert_eq!(compile_phase("[ 1.0s] -- Configuring done\n"), None);
    }

    #[test]
    fn the_compiler_major_is_read_from_build_sh_in_either_mode() {
        assert_eq!(compiler_major(LOG), Some(15));
        assert_eq!(
            compiler_major("[ 0.1s] build.sh: g++-16 (16.2.0), 4 jobs, offload off\n"),
            Some(16)
        );
        assert_eq!(compiler_major("no header"), None);
    }

    #[test]
    fn the_speedup_is_guest_time_over_offloaded_time_per_repeat() {
        let wall = [vec![100.0, 110.0], vec![300.0, 330.0]];
        let phase = [vec![10.0, 20.0], vec![50.0, 60.0]];
        let figures = compile_figures("ninja", Some(15), &wall, &phase);
        assert_eq!(figures[0].name, "compile phase, offloaded (ninja, g++-15)");
        assert_eq!(figures[2].samples, [3.0, 5.0]);
        assert_eq!(figures[2].met, Some(true));
        assert_eq!(figures[5].samples, [3.0, 3.0]);
        assert_eq!(
            compile_figures("c10", None, &wall, &phase)[1].name,
            "compile phase, in the guest (c10, g++-?)"
        );
    }
}
