//! Bench results on disk: the JSON file (the record), a Markdown table (for
//! docs/benchmarks.md), an SVG plot, and `--compare` against an older file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::plot;
use super::results::{show, show_range, Figure, Results, SCHEMA};
use crate::project::Project;

/// Writes `<time>.json`, `.md` and `.svg` into target/xtask/bench; prints the table.
pub fn write(project: &Project, results: &Results) -> Result<PathBuf> {
    let dir = project.xtask_dir().join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let suites: Vec<&str> = results.suites.iter().map(|s| s.suite.as_str()).collect();
    let json = dir.join(format!(
        "{}-{}.json",
        results.created.replace(':', ""),
        suites.join("-")
    ));
    write_atomic(&json, &(serde_json::to_string_pretty(results)? + "\n"))?;
    let table = markdown(results);
    write_atomic(&json.with_extension("md"), &table)?;
    write_atomic(&json.with_extension("svg"), &plot::svg(results)?)?;
    println!("{table}");
    Ok(json)
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

pub fn read(path: &Path) -> Result<Results> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading bench results {}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let schema = value.get("schema").and_then(|s| s.as_u64());
    if schema != Some(SCHEMA as u64) {
        bail!(
            "{}: bench results schema {schema:?}, this xtask reads schema {SCHEMA}",
            path.display()
        );
    }
    serde_json::from_value(value)
        .with_context(|| format!("{}: not a bench results file", path.display()))
}

pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let mut s = format!(
        "## cargo xtask bench{} — {}\n\nHost: {} ({} cores, {} GiB), {}; {}; {}\n",
        if r.quick { " --quick" } else { "" },
        r.created,
        m.cpu,
        m.cores,
        m.memory_gib,
        m.host_kernel,
        m.qemu,
        m.mmdebstrap
    );
    for suite in &r.suites {
        s.push_str(&format!(
            "\n### `{}` — image `{}`",
            suite.suite, suite.image
        ));
        if let Some(g) = &suite.guest {
            s.push_str(&format!(
                ", guest kernel {}, smp {}, {} MiB",
                g.kernel, g.smp, g.memory_mib
            ));
        }
        s.push_str("\n\n| figure | median (min–max) | n | goal |\n|---|---|---|---|\n");
        for f in &suite.figures {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                f.name,
                show_range(f),
                f.samples.len(),
                goal_text(f)
            ));
        }
    }
    s
}

fn goal_text(f: &Figure) -> String {
    match (&f.goal, f.met) {
        (Some(g), Some(true)) => format!("{g} ✓"),
        (Some(g), _) => format!("{g} ✗ (missed)"),
        _ => String::new(),
    }
}

/// New/old ratio of every figure both files have (same suite, same name).
pub fn compare(new: &Results, old: &Results) -> String {
    let mut s = format!(
        "## compared with {} \n\n| suite | figure | old | new | new/old |\n|---|---|---|---|---|\n",
        old.created
    );
    let mut missing = Vec::new();
    for suite in &new.suites {
        for f in &suite.figures {
            let before = old
                .suites
                .iter()
                .filter(|o| o.suite == suite.suite)
                .flat_map(|o| &o.figures)
                .find(|o| o.name == f.name && o.unit == f.unit);
            match before {
                Some(o) => s.push_str(&format!(
                    "| {} | {} | {} | {} | {:.2}x |\n",
                    suite.suite,
                    f.name,
                    show(o.value, &o.unit),
                    show(f.value, &f.unit),
                    f.value / o.value
                )),
                None => missing.push(format!("{}: {}", suite.suite, f.name)),
            }
        }
    }
    if !missing.is_empty() {
        s.push_str(&format!("\nnot in the old file: {}\n", missing.join("; ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::results::tests::sample;
    use super::super::results::Figure;
    use super::*;

    #[test]
    fn results_round_trip_and_other_schemas_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let r = sample("2026-11-25T00:00:00Z", vec![4.0, 5.0]);
        std::fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(read(&path).unwrap(), r);
        std::fs::write(&path, r#"{"schema": 99}"#).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(
            err.contains("schema Some(99)") && err.contains("r.json"),
            "{err}"
        );
    }

    #[test]
    fn markdown_lists_machine_guest_and_each_figure_with_its_goal() {
        let md = markdown(&sample("2026-11-25T00:00:00Z", vec![4.0, 5.0, 9.0]));
        assert!(md.contains("Host: cpu (2 cores, 23.5 GiB)"), "{md}");
        assert!(
            md.contains("guest kernel 6.17.8-riscv64, smp 2, 4096 MiB"),
            "{md}"
        );
        assert!(
            md.contains("| figure | median (min–max) | n | goal |\n|---|---|---|---|\n"),
            "{md}"
        );
        assert!(
            md.contains("| boot | 5.00 s (4.00–9.00) | 3 | <= 8 s ✓ |"),
            "{md}"
        );
        let once = markdown(&sample("2026-11-25T00:00:00Z", vec![4.0]));
        assert!(once.contains("| boot | 4.00 s | 1 | <= 8 s ✓ |"), "{once}");
    }

    #[test]
    fn compare_prints_new_over_old_and_names_figures_the_old_file_lacks() {
        let old = sample("old", vec![4.0]);
        let mut new = sample("new", vec![5.0]);
        new.suites[0]
            .figures
            .push(Figure::single("login", 15.0, "s", None));
        let text = compare(&new, &old);
        assert!(
            text.contains("| boot | boot | 4.00 s | 5.00 s | 1.25x |"),
            "{text}"
        );
        assert!(text.contains("not in the old file: boot: login"), "{text}");
    }
}
