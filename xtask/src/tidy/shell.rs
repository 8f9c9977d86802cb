//! Shell scripts: finding them and their dialect (guest scripts are POSIX
//! sh), and what shellcheck says of each.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::repo::{files_under, output};

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
