//! Which host this is: its Debian release codename and whether xtask runs as root.

use anyhow::{Context, Result};
use xshell::Shell;

/// `VERSION_CODENAME` of /etc/os-release (`bookworm` needs the backports pins).
pub(super) fn os_codename(sh: &Shell) -> Result<String> {
    let text = sh
        .read_file("/etc/os-release")
        .context("reading /etc/os-release")?;
    os_release_codename(&text).context("no VERSION_CODENAME in /etc/os-release")
}

fn os_release_codename(text: &str) -> Option<String> {
    let value = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("VERSION_CODENAME="))?;
    Some(value.trim_matches(|c| c == '"' || c == '\'').to_string()).filter(|v| !v.is_empty())
}

pub fn is_root() -> Result<bool> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    Ok(effective_uid(&status).context("no Uid: line in /proc/self/status")? == 0)
}

/// `Uid:` lists real, effective, saved and filesystem uids; effective decides.
fn effective_uid(status: &str) -> Option<u32> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_and_proc_status_are_read_right() {
        assert_eq!(
            os_release_codename("NAME=\"Debian\"\nVERSION_CODENAME=bookworm\n"),
            Some("bookworm".into())
        );
        assert_eq!(
            os_release_codename("VERSION_CODENAME=\"trixie\""),
            Some("trixie".into())
        );
        assert_eq!(os_release_codename("ID=debian\n"), None);
        assert_eq!(effective_uid("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(0));
    }
}
