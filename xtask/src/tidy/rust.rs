//! Checks of the Rust sources: formatted, each file opening with a `//!`
//! line, and `full_…` tests saying they run only in the full tier.

use std::path::Path;
use std::process::Command;

use super::repo::{files_under, output};

/// Problems `cargo fmt --check` finds in the crate or workspace at `dir`.
pub fn rustfmt_problems(dir: &Path) -> Vec<String> {
    let out = output(
        Command::new("cargo")
            .args(["fmt", "--all", "--check", "--manifest-path"])
            .arg(dir.join("Cargo.toml")),
        "rustup component add rustfmt",
    );
    if out.status.success() {
        return vec![];
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let files: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("Diff in "))
        .map(|l| format!("{l}: not formatted (run `cargo fmt`)"))
        .collect();
    if files.is_empty() {
        vec![format!(
            "cargo fmt --check failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )]
    } else {
        files
    }
}

/// `.rs` files under `dir` whose first line is not a `//!` module comment.
pub fn module_doc_problems(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            !text.lines().next().unwrap_or("").starts_with("//!")
        })
        .map(|p| {
            format!(
                "{}:1: does not open with a `//!` line saying what the file is for",
                p.display()
            )
        })
        .collect()
}

/// `full_…` tests (outside CI: `cargo xtask test --full` only) under `dir`
/// whose doc comment does not say so: a test named `full_` by accident would
/// silently leave CI.
pub fn full_tier_problems(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files_under(dir)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
    {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.starts_with("fn full_") {
                continue;
            }
            let doc: String = lines[..i]
                .iter()
                .rev()
                .skip_while(|l| l.starts_with("#["))
                .take_while(|l| l.starts_with("///"))
                .copied()
                .collect();
            if !doc.contains("Full tier only") {
                problems.push(format!(
                    "{}:{}: a `full_` test runs only with --full; say so (\"Full tier only\") in its doc comment, or rename it",
                    file.display(),
                    i + 1
                ));
            }
        }
    }
    problems
}
