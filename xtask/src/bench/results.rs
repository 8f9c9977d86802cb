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

/// A value in its unit, as people read it.
pub fn show(value: f64, unit: &str) -> String {
    match unit {
        "s" if value < 60.0 => format!("{value:.2} s"),
        "s" => human_duration(value),
        "x" => format!("{value:.2}x"),
        unit => format!("{value:.3} {unit}"),
    }
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
        assert_eq!((f.goal.as_deref(), f.met), (Some(">= 4"), Some(true)));
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(show(4.5, "s"), "4.50 s");
        assert_eq!(show(90.0, "s"), human_duration(90.0));
        assert_eq!(show(4.0, "x"), "4.00x");
        assert_eq!(show(0.7, "GFLOP/s"), "0.700 GFLOP/s");
    }
}
