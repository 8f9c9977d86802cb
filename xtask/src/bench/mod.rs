//! `cargo xtask bench [SUITE…]`: the speed and size figures the project
//! promises, measured on this machine. One invocation writes one results file,
//! `target/xtask/bench/<time>.json`, with a Markdown table (`.md`) and a plot
//! (`.svg`) beside it; `--compare OLD.json` prints new/old ratios.
//!
//! Suites: `image` (build times against plain mmdebstrap), `boot` (boot →
//! headless job, login prompt), `torch` (import time, GEMM GFLOP/s at smp 1
//! and 2), `llama` (tiny LLaMA tokens/s with torch and llama.cpp), `compile`
//! (in-guest C++ build with and without host offload). Every figure carries
//! its samples with min, median and max.

mod boot;
mod compile;
mod guest;
mod image;
mod plot;
mod report;

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::cmd;

use crate::flags;
use crate::project::Project;

pub const SUITES: &[&str] = &["image", "boot", "torch", "llama", "compile"];
/// What `cargo xtask bench --quick` runs without a suite named: minutes, not hours.
pub const QUICK_SUITES: &[&str] = &["boot", "torch", "llama"];
/// Bumped when a field changes meaning; `--compare` refuses other schemas.
pub const SCHEMA: u32 = 1;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Results {
    pub schema: u32,
    pub created: String,
    pub quick: bool,
    pub machine: Machine,
    pub suites: Vec<Suite>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub host_kernel: String,
    pub qemu: String,
    pub mmdebstrap: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Suite {
    pub suite: String,
    pub image: String,
    /// The guest the figures were measured in (none for `image`).
    pub guest: Option<Guest>,
    pub figures: Vec<Figure>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Guest {
    pub kernel: String,
    pub smp: u32,
    pub memory_mib: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Figure {
    pub name: String,
    /// The median of `samples`.
    pub value: f64,
    pub unit: String,
    pub min: f64,
    pub max: f64,
    pub samples: Vec<f64>,
    /// Goal as text, e.g. "<= 8 s", and whether the median met it.
    pub goal: Option<String>,
    pub met: Option<bool>,
}

/// What a goal compares: `AtMost(8.0)` for times, `AtLeast(0.7)` for rates.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    AtMost(f64),
    AtLeast(f64),
}

impl Figure {
    /// A figure from repeated measurements: the median, with min and max.
    pub fn new(name: &str, mut samples: Vec<f64>, unit: &str, goal: Option<Goal>) -> Figure {
        samples.sort_by(f64::total_cmp);
        let value = median(&samples);
        let (min, max) = (
            samples.first().copied().unwrap_or(f64::NAN),
            samples.last().copied().unwrap_or(f64::NAN),
        );
        let unit_text = if unit == "x" {
            String::new()
        } else {
            format!(" {unit}")
        };
        let (goal, met) = match goal {
            Some(Goal::AtMost(g)) => (Some(format!("<= {g}{unit_text}")), Some(value <= g)),
            Some(Goal::AtLeast(g)) => (Some(format!(">= {g}{unit_text}")), Some(value >= g)),
            None => (None, None),
        };
        Figure {
            name: name.into(),
            value,
            unit: unit.into(),
            min,
            max,
            samples,
            goal,
            met,
        }
    }

    pub fn single(name: &str, value: f64, unit: &str, goal: Option<Goal>) -> Figure {
        Figure::new(name, vec![value], unit, goal)
    }
}

fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The suites to run: as named, else `image` (or the quick set with --quick).
pub fn selected_suites(flags: &flags::Bench) -> Result<Vec<String>> {
    for suite in &flags.suites {
        if !SUITES.contains(&suite.as_str()) {
            bail!(
                "unknown bench suite `{suite}`; valid: {}",
                SUITES.join(", ")
            );
        }
    }
    Ok(match (flags.suites.is_empty(), flags.quick) {
        (false, _) => flags.suites.clone(),
        (true, true) => QUICK_SUITES.iter().map(|s| s.to_string()).collect(),
        (true, false) => vec!["image".into()],
    })
}

pub fn run(project: &Project, flags: &flags::Bench) -> Result<()> {
    let suites = selected_suites(flags)?;
    let old = match &flags.compare {
        Some(path) => Some(report::read(path)?),
        None => None,
    };
    let mut results = Results {
        schema: SCHEMA,
        created: now(project),
        quick: flags.quick,
        machine: machine(project),
        suites: vec![],
    };
    for suite in &suites {
        eprintln!(
            "bench: suite `{suite}`{}",
            if flags.quick { " (quick)" } else { "" }
        );
        let measured = match suite.as_str() {
            "image" => image::suite(project, flags)?,
            "boot" => boot::suite(project, flags)?,
            "torch" => guest::torch_suite(project, flags)?,
            "llama" => guest::llama_suite(project, flags)?,
            "compile" => compile::suite(project, flags)?,
            _ => unreachable!("checked by selected_suites"),
        };
        results.suites.push(measured);
    }
    let json = report::write(project, &results)?;
    if let Some(old) = &old {
        println!("{}", report::compare(&results, old));
    }
    eprintln!("results: {}", json.display());
    Ok(())
}

fn now(project: &Project) -> String {
    cmd!(project.sh, "date -u +%Y-%m-%dT%H:%M:%SZ")
        .quiet()
        .read()
        .unwrap_or_default()
}

fn machine(project: &Project) -> Machine {
    let sh = &project.sh;
    let first_line = |text: String| text.lines().next().unwrap_or("").trim().to_string();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    Machine {
        cpu: cpu_model(),
        cores: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        memory_gib: (mem_kib / (1 << 20) as f64 * 10.0).round() / 10.0,
        host_kernel: first_line(cmd!(sh, "uname -sr").quiet().read().unwrap_or_default()),
        qemu: first_line(
            cmd!(sh, "qemu-system-riscv64 --version")
                .quiet()
                .read()
                .unwrap_or_default(),
        ),
        mmdebstrap: first_line(
            cmd!(sh, "mmdebstrap --version")
                .quiet()
                .read()
                .unwrap_or_default(),
        ),
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The guest facts of a built image booted with `smp` CPUs and `memory_mib`.
pub fn guest(
    project: &Project,
    image: &str,
    smp: Option<u32>,
    memory_mib: Option<u64>,
) -> Result<Guest> {
    let m =
        crate::manifest::Manifest::read(&project.images_dir().join(image)).with_context(|| {
            format!("the bench needs image `{image}` built: `cargo xtask image {image}`")
        })?;
    Ok(Guest {
        kernel: m.kernel_version,
        smp: smp.unwrap_or(m.run.smp),
        memory_mib: memory_mib.unwrap_or(m.run.memory_mib),
    })
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figure_takes_the_median_and_judges_goals_both_ways() {
        let f = Figure::new("boot", vec![5.0, 4.0, 9.0], "s", Some(Goal::AtMost(8.0)));
        assert_eq!((f.value, f.min, f.max), (5.0, 4.0, 9.0));
        assert_eq!((f.goal.as_deref(), f.met), (Some("<= 8 s"), Some(true)));
        let f = Figure::new("gemm", vec![0.5, 0.6], "GFLOP/s", Some(Goal::AtLeast(0.7)));
        assert_eq!(f.value, 0.55);
        assert_eq!(
            (f.goal.as_deref(), f.met),
            (Some(">= 0.7 GFLOP/s"), Some(false))
        );
        let f = Figure::single("ratio", 4.5, "x", Some(Goal::AtLeast(4.0)));
        assert_eq!((f.goal.as_deref(), f.met), (Some(">= 4"), Some(true)));
    }

    #[test]
    fn suites_default_to_image_or_the_quick_set_and_unknown_ones_are_refused() {
        let mut flags = flags::Bench::default();
        assert_eq!(selected_suites(&flags).unwrap(), ["image"]);
        flags.quick = true;
        assert_eq!(selected_suites(&flags).unwrap(), QUICK_SUITES);
        flags.suites = vec!["llama".into()];
        assert_eq!(selected_suites(&flags).unwrap(), ["llama"]);
        flags.suites = vec!["gpu".into()];
        let err = selected_suites(&flags).unwrap_err().to_string();
        assert!(
            err.contains("unknown bench suite `gpu`") && err.contains("compile"),
            "{err}"
        );
    }
}
