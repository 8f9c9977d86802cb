//! The tidy test: checks of the repository itself, as plain `#[test]`s (the
//! way rust-analyzer's `xtask/src/tidy.rs` does), so they run with every
//! `cargo xtask test`, `--quick` included, and cannot be forgotten.
//!
//! Each checker takes a directory and returns the problems it found, one line
//! each naming the file; the tests here run them on the workspace, and
//! `selftest.rs` runs them on small broken trees. One file per family of
//! checks: `rust.rs`, `shell.rs`, `docs.rs`, `buildroot.rs`; `repo.rs` finds
//! the files and runs the tools.

mod buildroot;
mod docs;
mod repo;
mod rust;
mod selftest;
mod shell;

use std::path::PathBuf;
use std::process::Command;

use clap::CommandFactory;

use buildroot::{buildroot_utils, check_package_problems};
use docs::{dead_link_problems, readme_commands};
use repo::{output, root};
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
