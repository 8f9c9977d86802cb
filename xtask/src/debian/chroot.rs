//! Commands inside the image's root, in namespaces that clean up after them.

use std::path::Path;

use anyhow::Result;
use xshell::{cmd, Shell};

use crate::progress::CommandLog;

/// Runs `argv` inside `root` via `debian/scripts/chroot.sh` in a private mount
/// and PID namespace: its /proc, /dev and /sys mounts vanish with the
/// namespace even if the build is killed, so nothing is ever left mounted.
pub fn in_chroot(
    sh: &Shell,
    log: &CommandLog,
    root: &Path,
    env: &[(&str, String)],
    argv: &[&str],
) -> Result<()> {
    let script = sh.current_dir().join("debian/scripts/chroot.sh");
    let mut command = cmd!(
        sh,
        "unshare --mount --pid --fork --kill-child sh {script} {root} {argv...}"
    );
    for (key, value) in env {
        command = command.env(key, value);
    }
    log.run(command)
}
