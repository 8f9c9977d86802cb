//! Suites that measure workloads inside the guest: `torch` (import time and
//! fp32 GEMM at smp 1 and 2, guest-scripts/gemm_bench.py, and a torch job
//! warm against cold, bench/warm.rs) and `llama` (the
//! tiny LLaMA with torch and with llama.cpp, guest-scripts/llama/). Each
//! repeat is a fresh boot; the guest script prints one JSON line.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use xshell::cmd;

use super::results::{self, Figure, Goal, Suite};
use super::warm;
use crate::flags;
use crate::project::Project;

/// Runs `command` headless in `image` and returns the last JSON object it printed.
fn guest_json(
    project: &Project,
    image: &str,
    run_args: &[String],
    command: &[String],
) -> Result<Value> {
    session_json(project, "run", image, run_args, command)
}

/// `cargo xtask VERB image run_args -- command` (`run`, or `cosim` for a
/// co-simulation session) and the last JSON object the guest printed.
pub fn session_json(
    project: &Project,
    verb: &str,
    image: &str,
    run_args: &[String],
    command: &[String],
) -> Result<Value> {
    let exe = std::env::current_exe().context("locating the xtask binary")?;
    let config_path = &project.config_path;
    let stdout = cmd!(
        project.sh,
        "{exe} --config {config_path} {verb} {image} {run_args...} -- {command...}"
    )
    .quiet()
    .read()
    .with_context(|| {
        format!(
            "bench: `cargo xtask {verb} {image} -- {}` failed",
            command.join(" ")
        )
    })?;
    last_json(&stdout).with_context(|| {
        format!(
            "bench: `{}` printed no JSON object:\n{stdout}",
            command.join(" ")
        )
    })
}

/// The last line of `text` that parses as a JSON object.
pub fn last_json(text: &str) -> Option<Value> {
    text.lines()
        .rev()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
}

pub fn number(v: &Value, key: &str) -> Result<f64> {
    v.get(key)
        .and_then(Value::as_f64)
        .with_context(|| format!("bench: `{key}` missing from the guest's JSON: {v}"))
}

/// The job of the torch suite's warm rows: all import, almost no work.
const WARM_TORCH_JOB: [&str; 3] = ["python3", "-c", "import torch; print(torch.ones(2).sum())"];

pub fn torch_suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let config = project.config()?;
    let image = config.image(flags.image.as_deref())?.name.clone();
    let guest = results::guest(project, &image, Some(2), None)?;
    let sizes: &[u32] = if flags.quick { &[256] } else { &[256, 512] };
    // --quick leaves out smp 1 (and so the scaling): each run pays `import torch`.
    let smps: &[u32] = if flags.quick { &[2] } else { &[1, 2] };
    let samples = measure_torch(project, &image, sizes, smps, flags.repeats())?;
    let mut figures = torch_figures(sizes, smps, &samples);
    if !flags.no_warm {
        figures.extend(warm::figures(
            project,
            &image,
            "whole run `import torch; print(torch.ones(2).sum())`",
            &WARM_TORCH_JOB.map(String::from),
            None,
            flags.repeats(),
            Some(Goal::AtMost(0.05)),
        )?);
    }
    Ok(Suite {
        suite: "torch".into(),
        image,
        guest: Some(guest),
        figures,
    })
}

/// What the torch suite's boots measured.
struct TorchSamples {
    /// `import torch` seconds, at smp 2.
    import: Vec<f64>,
    /// GFLOP/s samples, `gflops[smp index][size index]`.
    gflops: Vec<Vec<Vec<f64>>>,
}

/// `repeats` boots at each of `smps`, each running gemm_bench.py on `sizes`.
fn measure_torch(
    project: &Project,
    image: &str,
    sizes: &[u32],
    smps: &[u32],
    repeats: usize,
) -> Result<TorchSamples> {
    let size_list = sizes
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let command: Vec<String> = [
        "python3",
        "/mnt/scripts/gemm_bench.py",
        "--sizes",
        &size_list,
        "--repeats",
        "3",
        "--json",
    ]
    .map(String::from)
    .to_vec();
    let mut samples = TorchSamples {
        import: Vec::new(),
        gflops: vec![vec![Vec::new(); sizes.len()]; smps.len()],
    };
    for i in 0..repeats {
        for (k, &smp) in smps.iter().enumerate() {
            let v = guest_json(project, image, &["--smp".into(), smp.to_string()], &command)?;
            if v.get("ok") != Some(&Value::Bool(true)) {
                bail!("bench torch: the GEMM check failed in the guest: {v}");
            }
            if smp == 2 {
                samples.import.push(number(&v, "import_secs")?);
            }
            let runs = v
                .get("gemm")
                .and_then(Value::as_array)
                .context("bench torch: no `gemm` list")?;
            for (j, run) in runs.iter().enumerate().take(sizes.len()) {
                samples.gflops[k][j].push(number(run, "median_gflops")?);
            }
            eprintln!("bench: torch #{} smp {smp}: {v}", i + 1);
        }
    }
    Ok(samples)
}

/// The import time, then per size the GEMM rate at each smp and, with both
/// smps, the scaling; the goals apply to the largest size.
fn torch_figures(sizes: &[u32], smps: &[u32], samples: &TorchSamples) -> Vec<Figure> {
    let gflops = &samples.gflops;
    let mut figures = vec![Figure::new(
        "import torch (smp 2)",
        samples.import.clone(),
        "s",
        Some(Goal::AtMost(10.0)),
    )];
    for (j, n) in sizes.iter().enumerate() {
        let largest = j + 1 == sizes.len();
        let goal = largest.then_some(Goal::AtLeast(0.7));
        if smps.len() == 1 {
            figures.push(Figure::new(
                &format!("fp32 GEMM {n}², smp 2"),
                gflops[0][j].clone(),
                "GFLOP/s",
                goal,
            ));
            continue;
        }
        figures.push(Figure::new(
            &format!("fp32 GEMM {n}², smp 1"),
            gflops[0][j].clone(),
            "GFLOP/s",
            None,
        ));
        figures.push(Figure::new(
            &format!("fp32 GEMM {n}², smp 2"),
            gflops[1][j].clone(),
            "GFLOP/s",
            goal,
        ));
        let scaling = gflops[1][j]
            .iter()
            .zip(&gflops[0][j])
            .map(|(two, one)| two / one)
            .collect();
        let goal = largest.then_some(Goal::AtLeast(1.8));
        figures.push(Figure::new(
            &format!("fp32 GEMM {n}² scaling smp 2 / smp 1"),
            scaling,
            "x",
            goal,
        ));
    }
    figures
}

pub fn llama_suite(project: &Project, flags: &flags::Bench) -> Result<Suite> {
    let image = flags.llama_image.clone();
    let guest = results::guest(project, &image, None, None)?;
    let (size, tokens) = if flags.quick {
        ("tiny", "16")
    } else {
        ("small", "64")
    };
    let script = |name: &str| -> Vec<String> {
        vec![
            "python3".into(),
            format!("/mnt/scripts/llama/{name}"),
            "--size".into(),
            size.into(),
            "--tokens".into(),
            tokens.into(),
            "--json".into(),
        ]
    };
    let keys = [
        ("prefill_tokens_per_s", "prefill", "tokens/s"),
        ("decode_tokens_per_s", "decode", "tokens/s"),
        ("peak_rss_mib", "peak RSS", "MiB"),
    ];
    let mut samples = vec![vec![Vec::new(); keys.len()]; 2];
    for i in 0..flags.repeats() {
        let runs = [
            guest_json(project, &image, &[], &script("llama_torch.py"))?,
            guest_json(project, &image, &[], &script("llama_cpp.py"))?,
        ];
        for (e, v) in runs.iter().enumerate() {
            for (k, (key, _, _)) in keys.iter().enumerate() {
                samples[e][k].push(number(v, key)?);
            }
        }
        if runs[0].get("token_ids") != runs[1].get("token_ids") {
            eprintln!(
                "bench: llama #{}: torch and llama.cpp generated different tokens:\n  {}\n  {}",
                i + 1,
                runs[0]["text"],
                runs[1]["text"]
            );
        }
        eprintln!(
            "bench: llama #{}: torch {} tok/s decode, llama.cpp {} tok/s decode",
            i + 1,
            runs[0]["decode_tokens_per_s"],
            runs[1]["decode_tokens_per_s"]
        );
    }
    let mut figures = Vec::new();
    for (e, engine) in ["torch", "llama.cpp"].iter().enumerate() {
        for (k, (_, label, unit)) in keys.iter().enumerate() {
            figures.push(Figure::new(
                &format!("{engine} {label} ({size} model, {tokens} tokens)"),
                samples[e][k].clone(),
                unit,
                None,
            ));
        }
    }
    Ok(Suite {
        suite: "llama".into(),
        image,
        guest: Some(guest),
        figures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_json_line_wins_and_other_output_is_skipped() {
        let text = "booting\n{\"a\": 1}\nnoise {\n{\"a\": 2}\ntrailing text\n";
        assert_eq!(last_json(text).unwrap()["a"], 2);
        assert!(last_json("no json here\n{broken").is_none());
    }

    #[test]
    fn torch_figures_scale_smp_1_to_2_and_judge_only_the_largest_size() {
        let samples = TorchSamples {
            import: vec![6.0],
            gflops: vec![vec![vec![0.4], vec![0.5]], vec![vec![0.7], vec![0.9]]],
        };
        let figures = torch_figures(&[256, 512], &[1, 2], &samples);
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "import torch (smp 2)",
                "fp32 GEMM 256², smp 1",
                "fp32 GEMM 256², smp 2",
                "fp32 GEMM 256² scaling smp 2 / smp 1",
                "fp32 GEMM 512², smp 1",
                "fp32 GEMM 512², smp 2",
                "fp32 GEMM 512² scaling smp 2 / smp 1",
            ]
        );
        assert_eq!(figures[3].value, 0.7 / 0.4);
        assert_eq!(figures[2].goal, None);
        assert_eq!(figures[5].goal.as_deref(), Some(">= 0.7 GFLOP/s"));
        assert_eq!(figures[6].goal.as_deref(), Some(">= 1.8x"));

        let quick = TorchSamples {
            import: vec![6.0],
            gflops: vec![vec![vec![0.8]]],
        };
        let figures = torch_figures(&[256], &[2], &quick);
        assert_eq!(figures.len(), 2);
        assert_eq!(figures[1].name, "fp32 GEMM 256², smp 2");
        assert_eq!(figures[1].met, Some(true));
    }
}
