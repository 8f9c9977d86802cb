//! Buildroot's own `utils/check-package` on the external tree, run from the
//! pinned Buildroot source.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::repo::{files_under, output, root};

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
pub fn buildroot_utils(into: &Path) -> PathBuf {
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
