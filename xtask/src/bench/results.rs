//! The bench results as data: a run's [`Results`], its suites and their
//! figures (median, min, max and goal of repeated samples), how a value reads
//! in its unit, and the guest facts of a built image. The suites fill these
//! in, `report.rs` and `plot.rs` read them; this file imports neither.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::progress::human_duration;
use crate::project::Project;

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
        let (goal, met) = match goal {
            Some(Goal::AtMost(g)) => (Some(format!("<= {}", with_unit(g, unit))), Some(value <= g)),
            Some(Goal::AtLeast(g)) => {
                (Some(format!(">= {}", with_unit(g, unit))), Some(value >= g))
            }
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

/// A goal's number with its unit as written (`8 s`, `0.7 GFLOP/s`, `0.15x`).
fn with_unit(value: f64, unit: &str) -> String {
    match unit {
        "x" => format!("{value}x"),
        unit => format!("{value} {unit}"),
    }
}

/// A value in its unit, as people read it: three significant digits (two
/// below 1), whole numbers from 100 up; times under 0.1 s in milliseconds,
/// from a minute up in minutes.
pub fn show(value: f64, unit: &str) -> String {
    show_scaled(value, unit, value)
}

/// `value` in `unit`, in the scale `reference` would be shown in (so that
/// a median and its range share one).
fn show_scaled(value: f64, unit: &str, reference: f64) -> String {
    match unit {
        "s" if reference >= 60.0 => human_duration(value),
        // The phases are timed to the millisecond: two digits say it.
        "s" if reference < 0.1 => format!("{} ms", digits(value * 1000.0, 2)),
        "x" => format!("{}x", significant(value)),
        unit => format!("{} {unit}", significant(value)),
    }
}

/// `2682.6` → `2683`, `55.62` → `55.6`, `1.853` → `1.85`, `0.877` → `0.88`,
/// `0.00312` → `0.0031`: three significant digits, two below 1.
pub fn significant(value: f64) -> String {
    digits(value, if value.abs() >= 1.0 { 3 } else { 2 })
}

/// `value` to `n` significant digits, never in exponent form.
fn digits(value: f64, n: i32) -> String {
    if !value.is_finite() || value == 0.0 {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (n - 1 - magnitude).clamp(0, 9) as usize;
    format!("{value:.decimals$}")
}

/// The median, then the range in brackets when there was more than one
/// sample, both in one scale: `0.88 s (0.87–0.95)`, `3.0 ms (2.0–4.0)`.
pub fn show_range(f: &Figure) -> String {
    if f.samples.len() <= 1 || f.min == f.max {
        return show(f.value, &f.unit);
    }
    let median = show_scaled(f.value, &f.unit, f.max);
    let bare = |v: f64| match f.unit.as_str() {
        "s" if f.max >= 60.0 => human_duration(v),
        "s" if f.max < 0.1 => digits(v * 1000.0, 2),
        _ => significant(v),
    };
    format!("{median} ({}–{})", bare(f.min), bare(f.max))
}

/// The guest facts of a built image booted with `smp` CPUs and `memory_mib`.
pub fn guest(
    project: &Project,
    image: &str,
    smp: Option<u32>,
    memory_mib: Option<u64>,
) -> Result<Guest> {
    let m = crate::manifest::Manifest::read_built(&project.images_dir().join(image), image)?;
    Ok(Guest {
        kernel: m.kernel_version,
        smp: smp.unwrap_or(m.run.smp),
        memory_mib: memory_mib.unwrap_or(m.run.memory_mib),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A quick run with one `boot` figure of these samples (goal <= 8 s).
    pub(crate) fn sample(created: &str, boot: Vec<f64>) -> Results {
        Results {
            schema: SCHEMA,
            created: created.into(),
            quick: true,
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                memory_gib: 23.5,
                host_kernel: "Linux 6.1".into(),
                qemu: "QEMU emulator version 10.0.2".into(),
                mmdebstrap: "mmdebstrap 1.3.5".into(),
            },
            suites: vec![Suite {
                suite: "boot".into(),
                image: "debian-sid-torch".into(),
                guest: Some(Guest {
                    kernel: "6.17.8-riscv64".into(),
                    smp: 2,
                    memory_mib: 4096,
                }),
                figures: vec![Figure::new("boot", boot, "s", Some(Goal::AtMost(8.0)))],
            }],
        }
    }

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
        assert_eq!((f.goal.as_deref(), f.met), (Some(">= 4x"), Some(true)));
    }

    #[test]
    fn values_read_in_their_unit_with_sensible_digits() {
        assert_eq!(show(4.5, "s"), "4.50 s");
        assert_eq!(show(0.877, "s"), "0.88 s");
        assert_eq!(show(1.853, "s"), "1.85 s");
        assert_eq!(show(90.0, "s"), human_duration(90.0));
        assert_eq!(show(4.0, "x"), "4.00x");
        assert_eq!(show(0.1, "x"), "0.10x");
        assert_eq!(show(0.7, "GFLOP/s"), "0.70 GFLOP/s");
        assert_eq!(show(2682.6, "1/s"), "2683 1/s");
        assert_eq!(show(4167.215, "MiB"), "4167 MiB");
        assert_eq!(show(55.62, "tokens/s"), "55.6 tokens/s");
        assert_eq!(show(0.00312, "s"), "3.1 ms");
        assert_eq!(show(0.001, "s"), "1.0 ms");
        assert_eq!(show(0.059, "s"), "59 ms");
        assert_eq!(show(0.00312, "GB"), "0.0031 GB");
        assert_eq!(show(0.0, "s"), "0 ms");
    }

    #[test]
    fn the_range_is_shown_only_when_there_was_more_than_one_sample() {
        let one = Figure::single("save size", 4167.215, "MiB", None);
        assert_eq!(show_range(&one), "4167 MiB");
        let three = Figure::new("warm", vec![0.95, 0.877, 0.87], "s", None);
        assert_eq!(show_range(&three), "0.88 s (0.87–0.95)");
        let long = Figure::new("cold", vec![65.0, 67.2, 68.0], "s", None);
        assert_eq!(
            show_range(&long),
            format!(
                "{} ({}–{})",
                human_duration(67.2),
                human_duration(65.0),
                human_duration(68.0)
            )
        );
        let phase = Figure::new("lock", vec![0.002, 0.003, 0.004], "s", None);
        assert_eq!(show_range(&phase), "3.0 ms (2.0–4.0)");
        let same = Figure::new("x", vec![2.0, 2.0], "x", None);
        assert_eq!(show_range(&same), "2.00x");
    }

    #[test]
    fn every_goal_carries_its_unit() {
        let f = Figure::single("warm / cold", 0.1, "x", Some(Goal::AtMost(0.15)));
        assert_eq!(f.goal.as_deref(), Some("<= 0.15x"));
        let f = Figure::single("rate", 1.0, "GFLOP/s", Some(Goal::AtLeast(0.7)));
        assert_eq!(f.goal.as_deref(), Some(">= 0.7 GFLOP/s"));
    }
}
