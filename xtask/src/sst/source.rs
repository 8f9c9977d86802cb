//! Where SST-core's source is, for `cargo xtask sst build`: `SST_CORE_SRC`
//! or `[cosim] sst_core`, either a tarball (a release or a `git archive`,
//! such as `sst-core-15.1.2.tar.xz`) or a git checkout at a clean commit.
//! Its identity (the tarball's sha256, the checkout's commit) keys the build;
//! the source is only read, and unpacked into the build's work directory.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::cache;
use crate::progress::CommandLog;

pub const ENV: &str = "SST_CORE_SRC";

pub struct CoreSource {
    pub kind: Kind,
    /// `sha256:…` of a tarball or `commit:…` of a checkout.
    pub identity: String,
    /// What the user gave, for messages and the build record.
    pub origin: String,
}

pub enum Kind {
    Tarball(PathBuf),
    Checkout(PathBuf),
}

/// SST-core from `SST_CORE_SRC`, else from `[cosim] sst_core` (relative to
/// `root`); neither set is an error that says how to set one.
pub fn locate(sh: &Shell, root: &Path, configured: Option<&Path>) -> Result<CoreSource> {
    let (given, origin) = match std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        Some(v) => {
            let p = PathBuf::from(&v);
            let origin = format!("{ENV}={}", p.display());
            (p, origin)
        }
        None => match configured {
            Some(p) => (root.join(p), format!("[cosim] sst_core = \"{}\"", p.display())),
            None => bail!(
                "SST-core's source is needed but none is set: set {ENV}=PATH or `sst_core = \"PATH\"` in the \
                 [cosim] table of acalsim.toml, where PATH is an SST-core git checkout or a tarball of one \
                 (e.g. sst-core-15.1.2.tar.xz)"
            ),
        },
    };
    if !given.exists() {
        bail!(
            "{origin}: {} does not exist (expected an SST-core git checkout or a tarball of one, \
             e.g. sst-core-15.1.2.tar.xz)",
            given.display()
        );
    }
    if given.is_file() {
        let sha = cache::sha256_file(&given)?;
        return Ok(CoreSource {
            kind: Kind::Tarball(given),
            identity: format!("sha256:{sha}"),
            origin,
        });
    }
    if !given.join("configure.ac").is_file() || !given.join("src/sst/core").is_dir() {
        bail!(
            "{origin}: {} is not SST-core's source (no configure.ac and src/sst/core); \
             expected an SST-core checkout or a tarball of one",
            given.display()
        );
    }
    let commit =
        clean_commit(sh, &given).with_context(|| format!("{origin}: reading the checkout"))?;
    Ok(CoreSource {
        kind: Kind::Checkout(given),
        identity: format!("commit:{commit}"),
        origin,
    })
}

/// The checkout's HEAD; uncommitted changes would not be in the key, so they
/// are refused.
fn clean_commit(sh: &Shell, dir: &Path) -> Result<String> {
    let status = cmd!(sh, "git -C {dir} status --porcelain --untracked-files=no")
        .quiet()
        .read()
        .with_context(|| {
            format!(
                "{} is not a git checkout; point at a tarball instead",
                dir.display()
            )
        })?;
    if !status.trim().is_empty() {
        bail!(
            "{} has uncommitted changes, which the build's cache key could not see: commit them, or \
             point at a tarball (`git archive`) of the tree",
            dir.display()
        );
    }
    Ok(cmd!(sh, "git -C {dir} rev-parse HEAD").quiet().read()?)
}

/// The source, in `dest` (a new directory): a tarball's top directory, or the
/// checkout's commit.
pub fn unpack(sh: &Shell, log: &CommandLog, source: &CoreSource, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    match &source.kind {
        Kind::Tarball(t) => log
            .run(cmd!(sh, "tar -xf {t} -C {dest} --strip-components=1"))
            .with_context(|| format!("unpacking {}", t.display())),
        Kind::Checkout(dir) => {
            let archive = dest.join(".source.tar");
            log.run(cmd!(
                sh,
                "git -C {dir} archive --format=tar --output={archive} HEAD"
            ))?;
            log.run(cmd!(sh, "tar -xf {archive} -C {dest}"))
                .with_context(|| format!("unpacking the archive of {}", dir.display()))?;
            std::fs::remove_file(&archive)
                .with_context(|| format!("removing {}", archive.display()))
        }
    }
}

/// `AC_INIT([SSTCore], [15.1.2], …)` in `configure.ac` → `15.1.2`.
pub fn version(configure_ac: &str) -> Option<String> {
    let line = configure_ac
        .lines()
        .find(|l| l.trim_start().starts_with("AC_INIT("))?;
    let second = line.split(',').nth(1)?;
    let v = second
        .trim()
        .trim_start_matches('[')
        .trim_end_matches([']', ')'])
        .trim();
    (!v.is_empty()).then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_foreign_source_is_named_with_where_it_was_set() {
        // nextest runs each test in its own process: the variable is ours.
        std::env::remove_var(ENV);
        let sh = Shell::new().unwrap();
        let root = tempfile::tempdir().unwrap();
        let err = |configured: &str| {
            locate(&sh, root.path(), Some(Path::new(configured)))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let missing = err("src/sst-core-15.1.2.tar.xz");
        assert!(
            missing.contains("[cosim] sst_core = \"src/sst-core-15.1.2.tar.xz\"")
                && missing.contains("does not exist")
                && missing.contains("git checkout or a tarball"),
            "{missing}"
        );
        let foreign = err(".");
        assert!(
            foreign.contains("is not SST-core's source") && !foreign.contains("does not exist"),
            "{foreign}"
        );
    }

    #[test]
    fn the_version_is_read_from_ac_init() {
        assert_eq!(
            version("dnl x\nAC_INIT([SSTCore], [15.1.2], [wg-sst@sandia.gov])\n").as_deref(),
            Some("15.1.2")
        );
        assert_eq!(
            version("AC_INIT([SSTCore], [-dev])").as_deref(),
            Some("-dev")
        );
        assert_eq!(version("AC_PREREQ([2.59])\n"), None);
    }
}
