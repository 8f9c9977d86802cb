//! `cargo xtask bench [SUITE…]`: the speed and size figures the project
//! promises, measured on this machine. One invocation writes one results file,
//! `target/xtask/bench/<time>.json`, with a Markdown table (`.md`) and a plot
//! (`.svg`) beside it; `--compare OLD.json` prints new/old ratios.
//!
//! Suites: `image` (build times against plain mmdebstrap), `boot` (boot →
//! headless job, login prompt), `torch` (import time, GEMM GFLOP/s at smp 1
//! and 2), `llama` (tiny LLaMA tokens/s with torch and llama.cpp), `compile`
//! (in-guest C++ build with and without host offload), `cosim` (ECHO and
//! COMPUTE round trips through /dev/sst0 in a session). `boot` and `torch`
//! also measure `run --warm` against cold runs. Every figure carries
//! its samples with min, median and max.

mod boot;
mod compile;
mod cosim;
mod guest;
mod image;
pub mod plot;
mod report;
mod results;
mod sweep;
mod warm;

use anyhow::{bail, Result};
use xshell::cmd;

use crate::flags;
use crate::project::Project;
use results::{Machine, Results, SCHEMA};

pub const SUITES: &[&str] = &[
    "image", "boot", "torch", "llama", "compile", "cosim", "sweep",
];
/// What `cargo xtask bench` runs without a suite named, with --quick's
/// settings: the suites that boot the default image (the one `cargo xtask
/// image` builds), a few minutes, no root and no other image. `image` (half an
/// hour, root) and the others run when named.
pub const DEFAULT_SUITES: &[&str] = &["boot", "torch"];
/// What `cargo xtask bench --quick` runs without a suite named: minutes, not hours.
pub const QUICK_SUITES: &[&str] = &["boot", "torch", "llama"];

/// The suites to run and whether with --quick's settings: as named; else the
/// quick set with --quick; else the default set, always quick.
pub fn selected_suites(flags: &flags::Bench) -> Result<(Vec<String>, bool)> {
    for suite in &flags.suites {
        if !SUITES.contains(&suite.as_str()) {
            bail!(
                "unknown bench suite `{suite}`; valid: {}",
                SUITES.join(", ")
            );
        }
    }
    let set = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
    Ok(match (flags.suites.is_empty(), flags.quick) {
        (false, quick) => (flags.suites.clone(), quick),
        (true, true) => (set(QUICK_SUITES), true),
        (true, false) => (set(DEFAULT_SUITES), true),
    })
}

pub fn run(project: &Project, flags: &flags::Bench) -> Result<()> {
    let (suites, quick) = selected_suites(flags)?;
    if flags.suites.is_empty() && !flags.quick {
        eprintln!(
            "bench: no suite named: {}, quick (name suites for the others: {})",
            DEFAULT_SUITES.join(" and "),
            SUITES.join(", ")
        );
    }
    let flags = &flags::Bench {
        quick,
        ..flags.clone()
    };
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
            "cosim" => cosim::suite(project, flags)?,
            "sweep" => sweep::suite(project, flags)?,
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
        // The QEMU `run` boots: the project's build once there is one.
        qemu: match crate::run::chosen_qemu(project, &crate::run::Request::default()) {
            Ok(q) => format!("{} at {}", q.version, q.path.display()),
            Err(e) => format!("no QEMU ({e:#})"),
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_suites_the_default_set_runs_quick_and_unknown_ones_are_refused() {
        let mut flags = flags::Bench::default();
        assert_eq!(
            selected_suites(&flags).unwrap(),
            (vec!["boot".to_string(), "torch".to_string()], true)
        );
        flags.quick = true;
        assert_eq!(selected_suites(&flags).unwrap().0, QUICK_SUITES);
        flags.suites = vec!["image".into()];
        assert_eq!(
            selected_suites(&flags).unwrap(),
            (vec!["image".into()], true)
        );
        flags.quick = false;
        assert_eq!(
            selected_suites(&flags).unwrap(),
            (vec!["image".into()], false)
        );
        flags.suites = vec!["gpu".into()];
        let err = selected_suites(&flags).unwrap_err().to_string();
        assert!(
            err.contains("unknown bench suite `gpu`") && err.contains("compile"),
            "{err}"
        );
    }
}
