//! The `cosim` suite: round trips through `/dev/sst0` from a guest program
//! (guest-scripts/sst/sst_bench.py) at smp 2, in a `cargo xtask cosim`
//! session with the reference peer: ECHO, which QEMU's device answers
//! itself, against COMPUTE, which crosses the socket to the SST side and
//! back. Their difference is what the socket hop costs a request.

use anyhow::{Context, Result};
use serde_json::Value;

use super::guest::{number, session_json};
use super::results::{self, Figure, Suite};
use crate::flags;
use crate::project::Project;

/// (JSON key, figure label, unit) of each kind's measurements.
const MEASURES: &[(&str, &str, &str)] = &[
    ("round_trips_per_s", "round trips", "1/s"),
    ("min_ms", "latency min", "ms"),
    ("median_ms", "latency median", "ms"),
    ("p99_ms", "latency p99", "ms"),
];
const KINDS: &[(&str, &str)] = &[
    ("echo", "ECHO (answered in QEMU)"),
    ("compute", "COMPUTE (through the socket to the peer)"),
];

pub fn suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let config = project.config()?;
    let image = match config.cosim.image.clone() {
        Some(name) => name,
        None => config.image(flags.image.as_deref())?.name.clone(),
    };
    let guest = results::guest(project, &image, Some(2), None)?;
    let count = if flags.quick { 300 } else { 3000 };
    let command: Vec<String> = [
        "python3",
        "/mnt/scripts/sst/sst_bench.py",
        "--count",
        &count.to_string(),
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let mut runs = Vec::new();
    for i in 0..flags.repeats() {
        let v = session_json(
            project,
            "cosim",
            &image,
            &["--smp".into(), "2".into()],
            &command,
        )?;
        eprintln!("bench: cosim #{}: {v}", i + 1);
        runs.push(v);
    }
    Ok(Suite {
        suite: "cosim".into(),
        image,
        guest: Some(guest),
        figures: figures(&runs, count)?,
    })
}

/// One figure per kind and measure, its samples one per session.
fn figures(runs: &[Value], count: u32) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for (kind, label) in KINDS {
        for (key, what, unit) in MEASURES {
            let samples = runs
                .iter()
                .map(|v| {
                    let part = v
                        .get(*kind)
                        .with_context(|| format!("bench cosim: no `{kind}` in {v}"))?;
                    number(part, key)
                })
                .collect::<Result<Vec<f64>>>()?;
            figures.push(Figure::new(
                &format!("{label}: {what} ({count} requests, smp 2)"),
                samples,
                unit,
                None,
            ));
        }
    }
    Ok(figures)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_gets_rate_and_latency_figures_with_a_sample_per_session() {
        let run = |echo: f64, compute: f64| {
            serde_json::json!({
                "echo": {"round_trips_per_s": echo, "min_ms": 0.1, "median_ms": 0.2, "p99_ms": 0.5},
                "compute": {"round_trips_per_s": compute, "min_ms": 0.2, "median_ms": 0.4, "p99_ms": 1.5},
            })
        };
        let f = figures(&[run(5000.0, 2000.0), run(4000.0, 2500.0)], 300).unwrap();
        assert_eq!(f.len(), 8);
        assert_eq!(
            f[0].name,
            "ECHO (answered in QEMU): round trips (300 requests, smp 2)"
        );
        assert_eq!((f[0].min, f[0].max), (4000.0, 5000.0));
        assert_eq!((f[4].min, f[4].max), (2000.0, 2500.0));
        assert_eq!(f[6].samples.len(), 2);
        assert_eq!(f[7].unit, "ms");
        let missing = figures(&[serde_json::json!({"echo": {}})], 300).unwrap_err();
        assert!(
            format!("{missing:#}").contains("round_trips_per_s"),
            "{missing:#}"
        );
    }
}
