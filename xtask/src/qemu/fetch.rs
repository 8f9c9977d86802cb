//! The QEMU source, verified before anything is unpacked: Debian's upstream
//! tarball through the suite's signed index (gpgv on `InRelease` → the
//! sha256 of `Sources.xz` → the tarball's sha256 in its stanza), a local
//! tarball by its pinned sha256, or a local git checkout at its pinned commit.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::archive;
use crate::cache;
use crate::config::{Qemu, QemuSource};
use crate::progress::CommandLog;

const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// A verified QEMU source.
#[derive(Debug, Clone)]
pub struct Source {
    pub kind: Kind,
    /// What vouches for it, for the build record: the index and its date, or the pin.
    pub verified: String,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Tarball(PathBuf),
    Checkout(PathBuf),
}

/// The name Debian gives QEMU `version`'s upstream tarball.
pub fn debian_tarball_name(version: &str) -> String {
    format!("qemu_{version}+ds.orig.tar.xz")
}

/// The identity of a pinned Debian tarball, known without the network, so a
/// cached build needs no download (offline re-runs). `None` means the source
/// must be verified first: the signed index when nothing is pinned, and a
/// local tarball or checkout always (cheap, and the file given is what is
/// checked, not only a build made from an equal one).
pub fn pinned_identity(q: &Qemu) -> Option<String> {
    match &q.source {
        QemuSource::Debian { sha256, .. } => sha256.clone().map(|s| format!("sha256:{s}")),
        QemuSource::Tarball { .. } | QemuSource::Checkout { .. } => None,
    }
}

/// The source `q` names, verified; `root` resolves relative paths. Returns
/// it and its identity (`sha256:…` or `commit:…`).
pub fn fetch(sh: &Shell, log: &CommandLog, root: &Path, q: &Qemu) -> Result<(Source, String)> {
    match &q.source {
        QemuSource::Debian {
            mirror,
            suite,
            sha256,
        } => debian(sh, log, mirror, suite, &q.version, sha256.as_deref()),
        QemuSource::Tarball { path, sha256 } => {
            let path = root.join(path);
            let got = cache::sha256_file(&path)
                .with_context(|| format!("[qemu] source: reading {}", path.display()))?;
            if &got != sha256 {
                bail!("[qemu] source {}: its sha256 is {got}, but the config pins {sha256}; refusing it (nothing was unpacked)", path.display());
            }
            let verified = format!("{} (sha256 {sha256}, pinned)", path.display());
            Ok((
                Source {
                    kind: Kind::Tarball(path),
                    verified,
                },
                format!("sha256:{sha256}"),
            ))
        }
        QemuSource::Checkout { path, commit } => {
            let path = root.join(path);
            let head = log
                .read(cmd!(sh, "git -C {path} rev-parse HEAD"))
                .with_context(|| format!("[qemu] source {}: not a git checkout", path.display()))?;
            if head != *commit {
                bail!("[qemu] source {}: HEAD is {head}, but the config pins commit {commit}; check out that commit or change the pin", path.display());
            }
            let dirty = log.read(cmd!(
                sh,
                "git -C {path} status --porcelain --untracked-files=no"
            ))?;
            if !dirty.is_empty() {
                bail!("[qemu] source {}: the checkout has uncommitted changes, so it is not commit {commit}:\n{dirty}", path.display());
            }
            let verified = format!("{} (git commit {commit}, pinned)", path.display());
            Ok((
                Source {
                    kind: Kind::Checkout(path),
                    verified,
                },
                format!("commit:{commit}"),
            ))
        }
    }
}

/// Debian's tarball: downloaded (or reused from the cache) and accepted only
/// if its sha256 is the one the signed index lists and the config pins.
fn debian(
    sh: &Shell,
    log: &CommandLog,
    mirror: &str,
    suite: &str,
    version: &str,
    pinned: Option<&str>,
) -> Result<(Source, String)> {
    let name = debian_tarball_name(version);
    let dir = cache::cache_dir()?.join("qemu/downloads");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let listed = signed_listing(sh, log, &dir, mirror, suite, &name)?;
    if let Some(pin) = pinned {
        if pin != listed.file.sha256 {
            bail!("[qemu] sha256 = \"{pin}\" differs from {name}'s sha256 {} in {suite}'s signed Sources ({} {}); refusing it (nothing was downloaded or unpacked). Pin the listed one if that is the release you want.", listed.file.sha256, "qemu", listed.file.version);
        }
    }
    let tarball = dir.join(&name);
    let have = tarball.is_file() && cache::sha256_file(&tarball)? == listed.file.sha256;
    if !have {
        let url = format!("{mirror}/{}/{name}", listed.file.directory);
        download(sh, log, &url, &tarball)?;
        let got = cache::sha256_file(&tarball)?;
        if got != listed.file.sha256 {
            let _ = std::fs::remove_file(&tarball);
            bail!("{url}: sha256 {got} differs from {} in {suite}'s signed Sources; refusing it (removed, nothing was unpacked)", listed.file.sha256);
        }
    }
    let verified = format!(
        "{mirror}/{}/{name} (sha256 {}, listed for qemu {} in {suite}'s Sources.xz, InRelease signed {}, verified with {KEYRING})",
        listed.file.directory, listed.file.sha256, listed.file.version, listed.date
    );
    let identity = format!("sha256:{}", listed.file.sha256);
    Ok((
        Source {
            kind: Kind::Tarball(tarball),
            verified,
        },
        identity,
    ))
}

struct Listing {
    file: archive::SourceFile,
    date: String,
}

/// `file`'s entry in `suite`'s Sources, through a verified InRelease.
fn signed_listing(
    sh: &Shell,
    log: &CommandLog,
    dir: &Path,
    mirror: &str,
    suite: &str,
    file: &str,
) -> Result<Listing> {
    let base = format!("{mirror}/dists/{suite}");
    // The index files of this run stay private: another checkout fetching the
    // same suite at the same time never reads or removes them.
    let private = tempfile::Builder::new()
        .prefix(&format!("index-{suite}-"))
        .tempdir_in(dir)
        .with_context(|| format!("creating a temporary directory in {}", dir.display()))?;
    let (signed, verified) = (
        private.path().join("InRelease"),
        private.path().join("Release"),
    );
    download(sh, log, &format!("{base}/InRelease"), &signed)?;
    log.run(cmd!(
        sh,
        "gpgv --keyring {KEYRING} --output {verified} {signed}"
    ))
    .with_context(|| {
        format!(
            "{base}/InRelease: its signature does not verify against {KEYRING}; refusing the index"
        )
    })?;
    let release = std::fs::read_to_string(&verified)
        .with_context(|| format!("reading {}", verified.display()))?;
    let index = "main/source/Sources.xz";
    let (sha, _) = archive::release_sha256(&release, index)
        .with_context(|| format!("{base}/InRelease lists no SHA256 for {index}"))?;
    let sources_xz = dir.join(format!("Sources.{suite}.xz"));
    let have = sources_xz.is_file() && cache::sha256_file(&sources_xz)? == sha;
    if !have {
        let fetched = private.path().join("Sources.xz");
        download(sh, log, &format!("{base}/{index}"), &fetched)?;
        let got = cache::sha256_file(&fetched)?;
        if got != sha {
            bail!("{base}/{index}: sha256 {got} differs from {sha} in the signed InRelease: the mirror is stale or mid-sync; try again later or another mirror");
        }
        std::fs::rename(&fetched, &sources_xz)
            .with_context(|| format!("moving the verified index to {}", sources_xz.display()))?;
    }
    // Decompressed in the private directory (60 MB, gone with it); only the
    // verified .xz is kept.
    let private_xz = private.path().join("Sources.xz");
    if !private_xz.exists() {
        std::fs::hard_link(&sources_xz, &private_xz).with_context(|| {
            format!(
                "linking {} into {}",
                sources_xz.display(),
                private.path().display()
            )
        })?;
    }
    log.run(cmd!(sh, "xz --decompress --keep --force {private_xz}"))?;
    let plain = private_xz.with_extension("");
    let sources =
        std::fs::read_to_string(&plain).with_context(|| format!("reading {}", plain.display()))?;
    let entry = archive::source_file(&sources, "qemu", file).with_context(|| {
        format!("{suite}'s signed Sources lists no qemu source with {file}; set [qemu] suite to one that has it (sid lists 10.2.2), or version to one {suite} has")
    })?;
    Ok(Listing {
        file: entry,
        date: archive::release_date(&release).unwrap_or_else(|| "(no Date)".into()),
    })
}

/// `url` to `dest`, through a `.partial` file of this run's own (two runs
/// fetching the same file never write one file) renamed into place.
fn download(sh: &Shell, log: &CommandLog, url: &str, dest: &Path) -> Result<()> {
    let dir = dest
        .parent()
        .with_context(|| format!("{} has no parent directory", dest.display()))?;
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let partial = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(dir)
        .with_context(|| format!("creating a download file in {}", dir.display()))?;
    let path = partial.path();
    log.run(cmd!(
        sh,
        "curl --fail --location --silent --show-error --output {path} {url}"
    ))
    .with_context(|| format!("downloading {url} (offline? the mirror is [qemu] mirror)"))?;
    partial
        .persist(dest)
        .with_context(|| format!("moving the download to {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Another run fetching the same file has its `.partial` there (here a
    /// directory, which nobody can write as a file): this run's download
    /// goes to a name of its own, and leaves no partial file of its own.
    #[test]
    fn a_download_never_writes_another_runs_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::write(&served, b"signed index").unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let dest = cache.join("InRelease.sid");
        for theirs in ["InRelease.partial", "InRelease.sid.partial"] {
            std::fs::create_dir(cache.join(theirs)).unwrap();
        }
        let sh = Shell::new().unwrap();
        let log = CommandLog::append_to(&dir.path().join("log"), false).unwrap();
        let url = format!("file://{}", served.display());
        download(&sh, &log, &url, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"signed index");
        let mut left: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "InRelease.partial",
                "InRelease.sid",
                "InRelease.sid.partial"
            ]
        );
    }
}
