//! The tidy test: checks of the repository itself, as plain `#[test]`s (the
//! way rust-analyzer's `xtask/src/tidy.rs` does), so they run with every
//! `cargo xtask test`, `--quick` included, and cannot be forgotten.
//!
//! Each checker takes a directory and returns the problems it found, one line
//! each naming the file; the tests run them on the workspace and, in
//! `checkers_catch_what_they_are_for`, on small broken trees.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;

/// The workspace root (xtask/ sits in it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

fn assert_clean(check: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{check}: {} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Runs `cmd`; a failure to start names the missing tool and how to get it.
fn output(cmd: &mut Command, install: &str) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e}; install it: {install} (or `cargo xtask doctor --fix`)")
    })
}

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

/// Files under `dir` (skipping `target/` and `.git/`), sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name();
            if name == "target" || name == ".git" {
                continue;
            }
            match e.file_type() {
                Ok(t) if t.is_dir() => todo.push(path),
                Ok(t) if t.is_file() => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// The shell dialect of a script, from its `#!` line or its name; `None`: not a script.
pub fn shell_dialect(name: &str, first_line: &str) -> Option<&'static str> {
    if let Some(interp) = first_line.strip_prefix("#!") {
        let words: Vec<&str> = interp.split_whitespace().collect();
        let program = |w: &&str| w.rsplit('/').next().unwrap_or(w).to_string();
        let names: Vec<String> = words.iter().map(program).collect();
        // `#!/usr/bin/env bash`, `#!/bin/busybox sh`: the shell is the last word.
        return match names.last().map(String::as_str) {
            Some("bash") => Some("bash"),
            Some("sh") | Some("dash") | Some("ash") => Some("sh"),
            _ => None,
        };
    }
    (name.ends_with(".sh") || name.ends_with(".sh.in")).then_some("sh")
}

/// Every shell script under `dir` with its dialect. Guest scripts and hooks are
/// POSIX sh (`#!/bin/sh`, busybox), so they are checked as sh, not bash.
pub fn shell_scripts(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    files_under(dir)
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read(&path).ok()?;
            let first = String::from_utf8_lossy(text.split(|&b| b == b'\n').next()?).into_owned();
            let name = path.file_name()?.to_string_lossy().into_owned();
            shell_dialect(&name, &first).map(|d| (path, d))
        })
        .collect()
}

/// What shellcheck says of every shell script under `dir`.
pub fn shellcheck_problems(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for (script, dialect) in shell_scripts(dir) {
        let out = output(
            Command::new("shellcheck")
                .args(["--format=gcc", "--shell", dialect])
                .arg(&script),
            "apt-get install shellcheck",
        );
        if !out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            if text.trim().is_empty() {
                problems.push(format!(
                    "{}: shellcheck failed: {}",
                    script.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            problems.extend(text.lines().map(str::to_string));
        }
    }
    problems
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

/// Relative link targets in Markdown `text`: `[x](t)` and `![x](t)`, without
/// URLs, mail addresses and in-page anchors; `#anchor` suffixes removed.
pub fn relative_links(text: &str) -> Vec<(usize, String)> {
    let mut links = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            rest = &rest[i + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split_whitespace().next().unwrap_or("");
            rest = &rest[end..];
            let is_external = target.contains("://") || target.starts_with("mailto:");
            if target.is_empty() || is_external || target.starts_with('#') {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            links.push((n + 1, path.to_string()));
        }
    }
    links
}

/// Relative links in `dir`'s README.md and docs/**/*.md that point nowhere.
pub fn dead_link_problems(dir: &Path) -> Vec<String> {
    let mut docs: Vec<PathBuf> = files_under(&dir.join("docs"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.insert(0, dir.join("README.md"));
    let mut problems = Vec::new();
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap_or_default();
        let base = doc.parent().unwrap_or(dir);
        for (line, target) in relative_links(&text) {
            if !base.join(&target).exists() {
                problems.push(format!(
                    "{}:{line}: link to `{target}`, which does not exist",
                    doc.display()
                ));
            }
        }
    }
    problems
}

/// The subcommands the README's `## Commands` table names (`cargo xtask NAME …`).
pub fn readme_commands(readme: &str) -> Vec<String> {
    let table = readme
        .split("\n## Commands")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .unwrap_or("");
    let mut names: Vec<String> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `cargo xtask "))
        .filter_map(|l| l.split([' ', '`']).next())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// What Buildroot's own `utils/check-package` says of the external tree at
/// `external`, with the utils of the Buildroot source at `utils` (its Python
/// needs python3-magic and flake8: run with Debian's python3, which has them).
pub fn check_package_problems(utils: &Path, external: &Path) -> Vec<String> {
    let files: Vec<PathBuf> = files_under(external);
    let out = output(
        Command::new("/usr/bin/python3")
            .arg(utils.join("check-package"))
            .arg("-b")
            .args(&files)
            .current_dir(external.parent().unwrap_or(external)),
        "apt-get install python3-magic flake8",
    );
    if out.status.success() {
        return vec![];
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let found: Vec<String> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.ends_with("lines processed") && !l.ends_with("warnings generated"))
        .map(str::to_string)
        .collect();
    if found.is_empty() {
        vec![format!("check-package failed:\n{stdout}{stderr}")]
    } else {
        found
    }
}

/// Buildroot's `utils/` from the pinned source (ACALSIM_BUILDROOT_SRC, or the
/// tarball beside the checkout), unpacked into `into` unless it is a checkout.
/// Missing is a failure that says what is missing, never a skip.
fn buildroot_utils(into: &Path) -> PathBuf {
    let src = std::env::var_os("ACALSIM_BUILDROOT_SRC")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/buildroot/buildroot-2024.02.13.tar.xz"));
    if src.join("utils/check-package").is_file() {
        return src.join("utils");
    }
    assert!(
        src.is_file(),
        "the tidy test runs Buildroot's utils/check-package from its pinned source: {} is missing; set ACALSIM_BUILDROOT_SRC to a Buildroot 2024.02.13 checkout or tarball",
        src.display()
    );
    let status = Command::new("tar")
        .args(["-xf"])
        .arg(&src)
        .arg("-C")
        .arg(into)
        .args(["--strip-components=1", "--wildcards", "*/utils/*"])
        .status()
        .expect("running tar");
    assert!(status.success(), "unpacking utils/ from {}", src.display());
    into.join("utils")
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

/// Each checker on a small tree with exactly the fault it exists to find.
#[test]
fn checkers_catch_what_they_are_for() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path();
    let write = |rel: &str, text: &str| {
        let path = d.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Cargo.toml",
        "[package]\nname = \"tidy-probe\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
    );
    write("src/lib.rs", "//! Probe.\npub fn f( )->u32{1}\n");
    write("guest/job.sh", "#!/bin/sh\nrm -rf $1/data\n");
    write("guest/bashism", "#!/bin/sh\n[[ -e x ]] && echo yes\n");
    write("src/undocumented.rs", "pub fn g() {}\n");
    write(
        "README.md",
        "See [the docs](docs/guide.md), [web](https://example.org) and [here](#top).\n",
    );
    write("docs/a.md", "![plot](bench/missing.svg)\n");
    write(
        "tests/boot.rs",
        "//! Boots.\n#[test]\nfn full_boot_is_systemd() {}\n",
    );

    let fmt = rustfmt_problems(d);
    assert!(
        fmt.iter()
            .any(|p| p.contains("lib.rs") && p.contains("not formatted")),
        "{fmt:?}"
    );
    let sc = shellcheck_problems(d);
    assert!(
        sc.iter()
            .any(|p| p.contains("job.sh") && p.contains("SC2086")),
        "an unquoted variable: {sc:?}"
    );
    assert!(
        sc.iter().any(|p| p.contains("bashism")),
        "[[ ]] in a POSIX sh script: {sc:?}"
    );
    let docs = module_doc_problems(d);
    assert_eq!(docs.len(), 1, "{docs:?}");
    assert!(docs[0].contains("undocumented.rs:1:"), "{docs:?}");
    let full = full_tier_problems(d);
    assert!(
        full.len() == 1 && full[0].contains("boot.rs:3:"),
        "a full_ test without its note: {full:?}"
    );
    let links = dead_link_problems(d);
    assert_eq!(links.len(), 2, "{links:?}");
    assert!(
        links[0].contains("README.md:1: link to `docs/guide.md`"),
        "{links:?}"
    );
    assert!(
        links[1].contains("a.md:1: link to `bench/missing.svg`"),
        "{links:?}"
    );

    // Fixed, every checker is quiet.
    write("src/lib.rs", "//! Probe.\npub fn f() -> u32 {\n    1\n}\n");
    write(
        "src/undocumented.rs",
        "//! Documented now.\npub fn g() {}\n",
    );
    write("guest/job.sh", "#!/bin/sh\nrm -rf \"$1/data\"\n");
    write("guest/bashism", "#!/bin/sh\n[ -e x ] && echo yes\n");
    write("docs/guide.md", "# Guide\n");
    write("docs/bench/missing.svg", "<svg/>\n");
    write(
        "tests/boot.rs",
        "//! Boots.\n/// Full tier only: slow.\n#[test]\nfn full_boot_is_systemd() {}\n",
    );
    assert_eq!(rustfmt_problems(d), Vec::<String>::new());
    assert_eq!(shellcheck_problems(d), Vec::<String>::new());
    assert_eq!(module_doc_problems(d), Vec::<String>::new());
    assert_eq!(dead_link_problems(d), Vec::<String>::new());
    assert_eq!(full_tier_problems(d), Vec::<String>::new());
}

#[test]
fn readme_table_and_script_kinds_are_read_right() {
    let readme = "# x\n## Commands\n\n| command | does |\n|---|---|\n| `cargo xtask doctor [--fix]` | d |\n| `cargo xtask buildroot defconfig` | b |\n| `cargo xtask buildroot check` | c |\n| `cargo xtask images` | i |\n\n`--config`\n\n## Where\n| `cargo xtask nope` | x |\n";
    assert_eq!(readme_commands(readme), ["buildroot", "doctor", "images"]);
    assert_eq!(shell_dialect("init", "#!/bin/busybox sh"), Some("sh"));
    assert_eq!(shell_dialect("run", "#!/usr/bin/env bash"), Some("bash"));
    assert_eq!(shell_dialect("x.py", "#!/usr/bin/env python3"), None);
    assert_eq!(shell_dialect("run.sh.in", "# template"), Some("sh"));
    assert_eq!(shell_dialect("notes.txt", "hello"), None);
}

#[test]
fn check_package_reports_a_broken_init_script() {
    let scratch = tempfile::tempdir().expect("a temporary directory");
    let utils = buildroot_utils(scratch.path());
    let ext = scratch.path().join("ext");
    let init = ext.join("board/x/rootfs-overlay/etc/init.d/S50thing");
    std::fs::create_dir_all(init.parent().unwrap()).unwrap();
    std::fs::write(ext.join("external.desc"), "name: PROBE\ndesc: probe\n").unwrap();
    std::fs::write(&init, "#!/bin/sh\n  echo start\n").unwrap();
    let problems = check_package_problems(&utils, &ext);
    assert!(
        problems.iter().any(|p| p.contains("S50thing")),
        "{problems:?}"
    );
}
