//! The tidy test: checks of the repository itself, as plain `#[test]`s (the
//! way rust-analyzer's `xtask/src/tidy.rs` does), so they run with every
//! `cargo xtask test`, `--quick` included, and cannot be forgotten.
//!
//! Each checker takes a directory (the layout checks: the files' texts) and
//! returns the problems it found, each naming the file; the tests here run
//! them on the workspace, and `selftest.rs` runs them on small broken trees.
//! One file per family of checks: `rust.rs`, `shell.rs`, `docs.rs`,
//! `buildroot.rs`, `help.rs` (the help's guest paths and defaults) with
//! `examples.rs` (its examples and the docs', which must parse), and the
//! layout limits `layout.rs` (file and function length) and `imports.rs` (no
//! import loops), which read Rust through `rust_text.rs`; `repo.rs` finds
//! the files and runs the tools.

mod buildroot;
mod docs;
mod examples;
mod help;
mod imports;
mod layout;
mod repo;
mod rust;
mod rust_text;
mod selftest;
mod shell;

use std::path::PathBuf;
use std::process::Command;

use clap::CommandFactory;

use buildroot::{buildroot_utils, check_package_problems};
use docs::{dead_link_problems, readme_commands};
use examples::{code_blocks, example_problems, examples};
use help::{
    default_problems, default_wording_problems, long_helps, markdown_docs,
    missing_guest_path_problems,
};
use imports::import_cycle_problems;
use layout::{long_file_problems, long_function_problems};
use repo::{files_under, output, root};
use rust::{full_tier_problems, module_doc_problems, rustfmt_problems};
use shell::{shell_scripts, shellcheck_problems};

fn assert_clean(check: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{check}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn formatting() {
    assert_clean("cargo fmt --check", rustfmt_problems(&root()));
}

#[test]
fn clippy_has_no_warnings() {
    let out = output(
        Command::new("cargo")
            .args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--quiet",
                "--",
                "-D",
                "warnings",
            ])
            .current_dir(root()),
        "rustup component add clippy",
    );
    assert!(
        out.status.success(),
        "cargo clippy -D warnings:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shell_scripts_pass_shellcheck() {
    let scripts = shell_scripts(&root());
    let has = |p: &str| scripts.iter().any(|(s, _)| s.ends_with(p));
    assert!(
        has("guest-scripts/runner/acalsim-init") && has("debian/initramfs/init") && has(".ci/run"),
        "the script finder misses scripts: {scripts:?}"
    );
    assert_clean("shellcheck", shellcheck_problems(&root()));
}

#[test]
fn buildroot_external_passes_check_package() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let utils = buildroot_utils(scratch.path());
    assert_clean(
        "utils/check-package",
        check_package_problems(&utils, &root().join("buildroot-external")),
    );
}

#[test]
fn rust_files_open_with_a_module_comment() {
    assert_clean("//! module comments", module_doc_problems(&root()));
}

#[test]
fn readme_command_table_names_exactly_the_subcommands() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("reading README.md");
    let mut help: Vec<String> = crate::flags::Xtask::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    help.sort();
    assert_eq!(
        readme_commands(&readme),
        help,
        "README.md's `## Commands` table vs `cargo xtask --help`"
    );
}

#[test]
fn generated_defconfig_is_current() {
    let xtask = std::env::var_os("ACALSIM_XTASK")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/debug/xtask"));
    assert!(
        xtask.is_file(),
        "no xtask binary at {}: run the tests with `cargo xtask test`",
        xtask.display()
    );
    let out = output(
        Command::new(&xtask)
            .args(["buildroot", "defconfig", "--check"])
            .current_dir(root()),
        "cargo build -p xtask",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tests_outside_ci_say_so() {
    assert_clean("full tier", full_tier_problems(&root()));
}

#[test]
fn relative_links_in_the_docs_resolve() {
    assert_clean("links", dead_link_problems(&root()));
}

#[test]
fn every_example_in_the_help_parses() {
    let helps = long_helps();
    assert!(
        helps
            .iter()
            .any(|(c, _)| c == "`cargo xtask sst peer --help`"),
        "the help walk misses subcommands: {:?}",
        helps.iter().map(|(c, _)| c).collect::<Vec<_>>()
    );
    let found: Vec<String> = helps
        .iter()
        .flat_map(|(_, h)| examples(h))
        .map(|e| e.shown)
        .collect();
    // At least the examples of run, ssh, sweep and bench, and cosim's, whose
    // second line continues the first.
    let joined = |e: &String| e.contains("--sst-dir") && e.contains(" -- python3 ");
    assert!(
        found.len() >= 10 && found.iter().any(joined),
        "the example finder misses examples: {found:?}"
    );
    assert_clean("help examples", example_problems(&helps));
}

#[test]
fn every_example_in_the_docs_code_blocks_parses() {
    let blocks: Vec<(String, String)> = markdown_docs(&root())
        .into_iter()
        .map(|(path, text)| (path, code_blocks(&text)))
        .collect();
    assert_clean("examples in the docs", example_problems(&blocks));
}

#[test]
fn guest_paths_in_the_help_and_the_docs_exist() {
    let mut texts = long_helps();
    texts.extend(markdown_docs(&root()));
    assert_clean("guest paths", missing_guest_path_problems(&root(), &texts));
}

#[test]
fn help_writes_every_default_one_way() {
    let mut problems = default_problems(&crate::flags::Xtask::command());
    problems.extend(default_wording_problems(&long_helps()));
    assert_clean("defaults in the help", problems);
}

/// `xtask/src/**/*.rs` as `(path from the workspace root, text)`.
fn xtask_sources() -> Vec<(String, String)> {
    let root = root();
    files_under(&root.join("xtask/src"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            let rel = p.strip_prefix(&root).unwrap_or(&p);
            (rel.to_string_lossy().into_owned(), text)
        })
        .collect()
}

// The layout limits: one job per file and per function, no import loops.
#[test]
fn no_rust_file_is_over_the_line_limit() {
    assert_clean("file length", long_file_problems(&xtask_sources()));
}

#[test]
fn no_function_is_over_the_line_limit_without_a_reason() {
    assert_clean(
        "function length",
        long_function_problems("xtask/src", &xtask_sources()),
    );
}

#[test]
fn modules_import_without_loops() {
    assert_clean(
        "import loops",
        import_cycle_problems("xtask/src", &xtask_sources()),
    );
}
