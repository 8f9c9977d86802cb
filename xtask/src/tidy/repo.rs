//! The repository the tidy checks read: where it is, its files, and running a
//! tool on it with a message that says how to install the tool.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (xtask/ sits in it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ sits in the workspace")
        .to_path_buf()
}

/// Runs `cmd`; a failure to start names the missing tool and how to get it.
pub fn output(cmd: &mut Command, install: &str) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e}; install it: {install} (or `cargo xtask doctor --fix`)")
    })
}

/// Files under `dir` (skipping `target/` and `.git/`), sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
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
