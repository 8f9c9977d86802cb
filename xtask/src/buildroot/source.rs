//! Getting a verified Buildroot tree into the user cache.
//!
//! In order: `ACALSIM_BUILDROOT_SRC` (a local checkout or tarball, for offline
//! use), else the config's source — a git tag whose commit must equal the
//! configured id, or a tarball URL whose sha256 must match. Trees are unpacked
//! once into `$XDG_CACHE_HOME/acalsim/buildroot/src/` and reused.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::cache;
use crate::config::buildroot::{Buildroot, Source};
use crate::progress::CommandLog;

pub const ENV: &str = "ACALSIM_BUILDROOT_SRC";

/// A Buildroot tree ready for `make -C`, and how it was verified.
pub struct Tree {
    pub path: PathBuf,
    pub verified: String,
}

/// The verified tree `br` names (or `ACALSIM_BUILDROOT_SRC`'s), its commands logged to `log`.
pub fn tree(sh: &Shell, log: &CommandLog, br: &Buildroot) -> Result<Tree> {
    if let Some(local) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        return local_tree(sh, log, br, Path::new(&local));
    }
    match &br.source {
        Source::Git { url, tag, commit } => git_tree(sh, log, url, tag, commit),
        Source::Tarball { url, sha256 } => tarball_tree(sh, log, url, sha256),
    }
}

fn src_cache() -> Result<PathBuf> {
    Ok(cache::cache_dir()?.join("buildroot/src"))
}

fn local_tree(sh: &Shell, log: &CommandLog, br: &Buildroot, local: &Path) -> Result<Tree> {
    if local.is_dir() {
        if !local.join("Config.in").is_file() || !local.join("Makefile").is_file() {
            bail!(
                "{ENV}={}: not a Buildroot tree (no Config.in and Makefile there)",
                local.display()
            );
        }
        let path = local
            .canonicalize()
            .with_context(|| format!("resolving {}", local.display()))?;
        return Ok(Tree {
            path,
            verified: format!("local tree {} (used as is, not verified)", local.display()),
        });
    }
    if !local.is_file() {
        bail!("{ENV}={}: no such file or directory (give a Buildroot checkout or a buildroot-VERSION.tar.xz/.tar.gz)", local.display());
    }
    let sha256 = cache::sha256_file(local)?;
    let verified = match &br.source {
        Source::Tarball { sha256: want, .. } if *want == sha256 => format!("{} (sha256 matches the config)", local.display()),
        Source::Tarball { sha256: want, .. } => {
            bail!("{ENV}={}: sha256 {sha256} differs from the config's {want}; is it Buildroot {}?", local.display(), br.version)
        }
        Source::Git { commit, .. } => match archive_commit(sh, log, local) {
            Some(c) if c == *commit => format!("{} (git archive of commit {commit}, as the config asks)", local.display()),
            Some(c) => bail!(
                "{ENV}={}: a git archive of commit {c}, but the config asks for Buildroot {} at {commit}",
                local.display(),
                br.version
            ),
            None => format!("{} (sha256 {sha256}; carries no commit id to check against the config)", local.display()),
        },
    };
    let dest = src_cache()?.join(format!("tarball-{}", &sha256[..16]));
    if !dest.join("Makefile").is_file() {
        unpack(sh, log, local, &dest)?;
    }
    Ok(Tree {
        path: dest,
        verified,
    })
}

/// The commit id `git archive` records in a tarball's pax header, if any.
fn archive_commit(sh: &Shell, log: &CommandLog, tarball: &Path) -> Option<String> {
    let decompress = decompressor(tarball);
    let script = format!("{decompress} < \"$1\" | git get-tar-commit-id");
    // No commit id makes git exit 1: that is an answer, not a failure.
    let out = log
        .read(cmd!(sh, "sh -c {script} sh {tarball}"))
        .unwrap_or_default();
    let id = out.trim();
    (id.len() == 40 && id.chars().all(|c| c.is_ascii_hexdigit())).then(|| id.to_string())
}

fn decompressor(tarball: &Path) -> &'static str {
    let name = tarball.to_string_lossy();
    if name.ends_with(".xz") {
        "xz -dc"
    } else if name.ends_with(".gz") || name.ends_with(".tgz") {
        "gzip -dc"
    } else if name.ends_with(".bz2") {
        "bzip2 -dc"
    } else {
        "cat"
    }
}

/// Unpacks `tarball` (one top-level directory) into `dest` via a temp dir.
fn unpack(sh: &Shell, log: &CommandLog, tarball: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("cache path has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(parent)
        .context("creating an unpack dir")?;
    let into = tmp.path();
    eprintln!("unpacking {} ...", tarball.display());
    log.run(cmd!(sh, "tar -xf {tarball} -C {into} --strip-components=1"))
        .with_context(|| format!("unpacking {}", tarball.display()))?;
    if dest.exists() {
        std::fs::remove_dir_all(dest).with_context(|| format!("removing {}", dest.display()))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, dest).with_context(|| format!("moving the tree to {}", dest.display()))
}

fn git_tree(sh: &Shell, log: &CommandLog, url: &str, tag: &str, commit: &str) -> Result<Tree> {
    let dest = src_cache()?.join(format!("git-{commit}"));
    let verified = format!("git {url} tag {tag} = commit {commit}");
    if dest.join("Makefile").is_file() {
        return Ok(Tree {
            path: dest,
            verified,
        });
    }
    let parent = src_cache()?;
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".clone-")
        .tempdir_in(&parent)
        .context("creating a clone dir")?;
    let into = tmp.path().join("buildroot");
    eprintln!("fetching Buildroot {tag} from {url} ...");
    log.run(cmd!(sh, "git clone --quiet --depth 1 --branch {tag} {url} {into}")).map_err(|e| {
        anyhow::anyhow!(
            "{e}\ncannot fetch Buildroot {tag} from {url}. Offline? Put a Buildroot {tag} checkout or tarball \
             (e.g. buildroot-{tag}.tar.xz) on this machine and set {ENV} to its path"
        )
    })?;
    let head = log
        .read(cmd!(sh, "git -C {into} rev-parse HEAD"))
        .context("reading the cloned commit")?;
    if head.trim() != commit {
        bail!("Buildroot tag {tag} at {url} is commit {}, but the config pins {commit}: refusing an unverified tree", head.trim());
    }
    std::fs::rename(&into, &dest)
        .with_context(|| format!("moving the clone to {}", dest.display()))?;
    Ok(Tree {
        path: dest,
        verified,
    })
}

fn tarball_tree(sh: &Shell, log: &CommandLog, url: &str, sha256: &str) -> Result<Tree> {
    let dest = src_cache()?.join(format!("tarball-{}", &sha256[..16]));
    let verified = format!("{url} (sha256 {sha256})");
    if dest.join("Makefile").is_file() {
        return Ok(Tree {
            path: dest,
            verified,
        });
    }
    let downloads = cache::cache_dir()?.join("buildroot/downloads");
    std::fs::create_dir_all(&downloads)
        .with_context(|| format!("creating {}", downloads.display()))?;
    let file = downloads.join(url.rsplit('/').next().unwrap_or("buildroot.tar"));
    if !file.is_file() || cache::sha256_file(&file)? != sha256 {
        let partial = file.with_extension("partial");
        eprintln!("downloading {url} ...");
        log.run(cmd!(sh, "curl --fail --location --silent --show-error --output {partial} {url}")).map_err(|e| {
            anyhow::anyhow!("{e}\ncannot download {url}. Offline? Put the file at {} (sha256 {sha256}) or set {ENV}", file.display())
        })?;
        let got = cache::sha256_file(&partial)?;
        if got != sha256 {
            let _ = std::fs::remove_file(&partial);
            bail!("{url}: sha256 {got} differs from the config's {sha256}; refusing it");
        }
        std::fs::rename(&partial, &file)
            .with_context(|| format!("moving the download to {}", file.display()))?;
    }
    unpack(sh, log, &file, &dest)?;
    Ok(Tree {
        path: dest,
        verified,
    })
}
