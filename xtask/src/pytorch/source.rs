//! Debian source packages as build sources: fetched with the host's apt from
//! the image's own suite and mirror (the signed Sources index vouches for the
//! .dsc, the .dsc for every tarball), unpacked with `dpkg-source -x` (Debian's
//! patches applied) into the user cache.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::progress::CommandLog;

/// `debian:NAME` -> NAME.
pub fn debian_package(spec: &str) -> Option<&str> {
    spec.strip_prefix("debian:")
        .filter(|p| crate::config::is_package_name(p))
}

/// apt options that keep all of apt's state in `dir`, away from the host's.
pub fn apt_options(dir: &Path, check_valid_until: bool) -> Vec<String> {
    let d = dir.display();
    let mut o = vec![
        format!("Dir::State={d}/state"),
        format!("Dir::Cache={d}/cache"),
        format!("Dir::Etc::SourceList={d}/sources.list"),
        format!("Dir::Etc::SourceParts={d}/sources.list.d"),
        format!("Dir::Etc::Preferences={d}/preferences"),
        format!("Dir::Etc::PreferencesParts={d}/preferences.d"),
        // The cache belongs to the user running xtask, not to _apt.
        "APT::Sandbox::User=root".into(),
    ];
    if !check_valid_until {
        o.push("Acquire::Check-Valid-Until=false".into());
    }
    o.into_iter()
        .flat_map(|opt| ["-o".to_string(), opt])
        .collect()
}

/// The unpacked source of Debian package `package` from `suite` at `mirror`.
pub fn fetch(
    sh: &Shell,
    log: &CommandLog,
    cache: &Path,
    suite: &str,
    mirror: &str,
    package: &str,
    check_valid_until: bool,
) -> Result<PathBuf> {
    let base = cache.join("sources").join(suite).join(package);
    let tree = base.join("tree");
    if tree.is_dir() {
        return Ok(tree);
    }
    let apt = base.join("apt");
    prepare_apt_dir(&apt, suite, mirror)?;
    let opts = &apt_options(&apt, check_valid_until);
    apt_update(sh, log, opts, suite, mirror)?;
    let dsc = download_source(sh, log, opts, &apt.join("download"), suite, mirror, package)?;
    let partial = base.join("tree.partial");
    unpack(sh, log, &dsc, &partial)?;
    std::fs::rename(&partial, &tree)
        .with_context(|| format!("renaming {} to {}", partial.display(), tree.display()))?;
    Ok(tree)
}

/// apt's private state directories and a sources.list with only `suite`'s
/// sources at `mirror`.
fn prepare_apt_dir(apt: &Path, suite: &str, mirror: &str) -> Result<()> {
    for d in [
        "state/lists/partial",
        "cache/archives/partial",
        "sources.list.d",
        "preferences.d",
        "download",
    ] {
        std::fs::create_dir_all(apt.join(d))
            .with_context(|| format!("creating {}", apt.join(d).display()))?;
    }
    std::fs::write(
        apt.join("sources.list"),
        format!("deb-src {mirror} {suite} main\n"),
    )
    .context("writing the apt source list")
}

fn apt_update(
    sh: &Shell,
    log: &CommandLog,
    opts: &[String],
    suite: &str,
    mirror: &str,
) -> Result<()> {
    log.run(cmd!(sh, "apt-get {opts...} update"))
        .with_context(|| format!("apt-get update of {suite}'s sources at {mirror} failed"))
}

/// `apt-get source --download-only` into `download`; returns the .dsc.
fn download_source(
    sh: &Shell,
    log: &CommandLog,
    opts: &[String],
    download: &Path,
    suite: &str,
    mirror: &str,
    package: &str,
) -> Result<PathBuf> {
    let in_download = sh.push_dir(download);
    let fetched = log.run(cmd!(
        sh,
        "apt-get {opts...} source --download-only {package}"
    ));
    drop(in_download);
    if let Err(e) = fetched {
        // The tail the log quotes has apt's own reason; name it first.
        let err = format!("{e:#}");
        let missing = err
            .lines()
            .find(|l| l.contains("404") || l.contains("Unable to find"))
            .map(|l| l.split_once("] ").map_or(l, |(_, text)| text))
            .unwrap_or("")
            .trim()
            .to_string();
        bail!("cannot fetch Debian's `{package}` source from {mirror} ({suite}): {missing}\n{err}");
    }
    std::fs::read_dir(download)
        .with_context(|| format!("listing {}", download.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "dsc"))
        .with_context(|| format!("apt-get source left no .dsc in {}", download.display()))
}

/// `dpkg-source -x` of `dsc` into `into` (emptied first).
fn unpack(sh: &Shell, log: &CommandLog, dsc: &Path, into: &Path) -> Result<()> {
    if into.exists() {
        std::fs::remove_dir_all(into).with_context(|| format!("removing {}", into.display()))?;
    }
    // apt checked the .dsc against the signed Sources index and every tarball
    // against the .dsc; dpkg-source repeats the checksums (the uploader's own
    // signature needs debian-keyring, which the host need not have).
    log.run(cmd!(sh, "dpkg-source -x {dsc} {into}"))
        .context("unpacking the source with dpkg-source (needs dpkg-dev)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_specs_and_apt_isolation() {
        assert_eq!(debian_package("debian:pytorch"), Some("pytorch"));
        assert_eq!(debian_package("debian:Bad Name"), None);
        assert_eq!(debian_package("/src/pytorch"), None);
        let o = apt_options(Path::new("/c/apt"), true);
        assert!(o.contains(&"Dir::Etc::SourceList=/c/apt/sources.list".to_string()));
        assert!(o.chunks(2).all(|c| c[0] == "-o"));
        assert!(
            !o.iter().any(|x| x.contains("Valid-Until")),
            "the host's policy unless told"
        );
        assert!(
            !o.iter()
                .any(|x| x.contains("AllowUnauthenticated") || x.contains("trusted")),
            "signatures always checked"
        );
        assert!(apt_options(Path::new("/c"), false)
            .contains(&"Acquire::Check-Valid-Until=false".to_string()));
    }
}
