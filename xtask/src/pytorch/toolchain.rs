//! Host-offloaded compilation: Debian's riscv64 cross compiler in a native
//! amd64 root of the image's suite (the host's bookworm has only gcc 12),
//! served by distccd on 127.0.0.1 — the guest reaches it as 10.0.2.2 through
//! QEMU's user network, nothing else can.
//!
//! Objects must come out as the guest's own compiler would make them, so the
//! cross compiler is used only when its Debian version is the guest's exactly
//! (`16.2.0-4cross1` is the cross build of `16.2.0-4`); otherwise the
//! mismatch is reported and the build compiles in the guest.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::cache::ContentKey;
use crate::manifest::{installed_packages, Package};
use crate::progress::CommandLog;

pub const TRIPLET: &str = "riscv64-linux-gnu";

/// `g++-15-riscv64-linux-gnu` for major 15.
pub fn cross_package(major: u32) -> String {
    format!("g++-{major}-{TRIPLET}")
}

/// GCC majors the guest has a `g++-N` for, newest first.
pub fn guest_gcc_majors(guest: &[Package]) -> Vec<u32> {
    let mut majors: Vec<u32> = guest
        .iter()
        .filter_map(|p| p.name.strip_prefix("g++-").and_then(|m| m.parse().ok()))
        .collect();
    majors.sort_unstable_by(|a, b| b.cmp(a));
    majors.dedup();
    majors
}

/// How one GCC major compares between guest and host.
#[derive(Debug, Clone, PartialEq)]
pub struct Pairing {
    pub major: u32,
    pub guest: String,
    /// `None`: the cross compiler is not installed in the toolchain root.
    pub cross: Option<String>,
}

impl Pairing {
    /// Exactly the same compiler build: the cross version is the native one
    /// plus Debian's `crossN` suffix.
    pub fn exact(&self) -> bool {
        self.cross
            .as_deref()
            .is_some_and(|c| strip_cross_suffix(c) == self.guest)
    }

    pub fn describe(&self) -> String {
        match &self.cross {
            Some(c) if self.exact() => {
                format!("g++-{}: guest {} = cross {c}", self.major, self.guest)
            }
            Some(c) => format!(
                "g++-{}: guest {} but cross {c}: versions differ, not used",
                self.major, self.guest
            ),
            None => format!(
                "g++-{}: guest {}, no cross compiler",
                self.major, self.guest
            ),
        }
    }
}

/// `16.2.0-3cross1` -> `16.2.0-3`.
pub fn strip_cross_suffix(version: &str) -> &str {
    match version.rfind("cross") {
        Some(i) if version[i + 5..].chars().all(|c| c.is_ascii_digit()) => &version[..i],
        _ => version,
    }
}

/// Pairs every guest `g++-N` with the toolchain root's cross compiler.
pub fn pairings(guest: &[Package], host: &[Package]) -> Vec<Pairing> {
    guest_gcc_majors(guest)
        .into_iter()
        .filter_map(|major| {
            let guest_version = guest
                .iter()
                .find(|p| p.name == format!("g++-{major}"))?
                .version
                .clone();
            let cross = host
                .iter()
                .find(|p| p.name == cross_package(major))
                .map(|p| p.version.clone());
            Some(Pairing {
                major,
                guest: guest_version,
                cross,
            })
        })
        .collect()
}

/// The newest exactly matching pairing.
pub fn choose(pairings: &[Pairing]) -> Option<&Pairing> {
    pairings.iter().find(|p| p.exact())
}

/// Where the toolchain root for these majors lives in the cache.
pub fn root_dir(cache: &Path, suite: &str, mirror: &str, majors: &[u32]) -> PathBuf {
    let mut key = ContentKey::new("distcc-toolchain-v1");
    key.add("suite", suite.as_bytes())
        .add("mirror", mirror.as_bytes());
    let names: Vec<String> = majors.iter().map(|m| cross_package(*m)).collect();
    key.add("packages", names.join(",").as_bytes());
    cache
        .join("toolchains")
        .join(format!("distcc-{suite}-amd64-{}", &key.hex()[..16]))
}

/// Builds (once) the amd64 root with distcc and the cross compilers.
/// `check_valid_until` follows the image's manifest (a frozen mirror's
/// Release may be past its date; signatures are checked either way).
pub fn ensure_root(
    sh: &Shell,
    cache: &Path,
    source: &crate::manifest::DebianSource,
    majors: &[u32],
    refresh: bool,
    log: &Path,
) -> Result<PathBuf> {
    let (suite, mirror) = (source.suite.as_str(), source.mirror.as_str());
    let dir = root_dir(cache, suite, mirror, majors);
    let Some(_building) =
        crate::cache::claim(&dir, |d| d.join("usr/bin/distccd").exists() && !refresh)?
    else {
        return Ok(dir);
    };
    let partial = dir.with_extension("partial");
    for d in [&partial, &dir] {
        if d.exists() {
            std::fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    let apt_cache = cache.join("apt").join(format!("{suite}-amd64"));
    std::fs::create_dir_all(&apt_cache)
        .with_context(|| format!("creating {}", apt_cache.display()))?;
    let mut args = vec![
        "--mode=root".to_string(),
        "--variant=apt".into(),
        "--architectures=amd64".into(),
        "--include=distcc".into(),
    ];
    args.extend(crate::debian::shared_mmdebstrap_args(
        &apt_cache,
        source.check_valid_until,
    ));
    args.extend([
        suite.to_string(),
        partial.display().to_string(),
        mirror.to_string(),
    ]);
    let log = CommandLog::append_to(log, false)?;
    log.run(cmd!(sh, "mmdebstrap {args...}"))
        .context("bootstrapping the distcc toolchain root (amd64)")?;
    // Cross compilers second: those of the guest's majors this suite has.
    let wanted: Vec<String> = majors.iter().map(|m| cross_package(*m)).collect();
    let script = sh.current_dir().join("debian/scripts/chroot.sh");
    let install = format!(
        "apt-get update -qq && have= && for p in {0}; do apt-cache show \"$p\" >/dev/null 2>&1 && have=\"$have $p\"; done; \
         [ -n \"$have\" ] || {{ echo 'E: {suite} has none of {0} for amd64' >&2; exit 3; }}; \
         DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $have && update-distcc-symlinks",
        wanted.join(" ")
    );
    log.run(cmd!(
        sh,
        "unshare --mount --pid --fork --kill-child sh {script} {partial} sh -c {install}"
    ))
    .with_context(|| {
        format!(
            "installing {} in the toolchain root (host offload)",
            wanted.join(" or ")
        )
    })?;
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("renaming {} to {}", partial.display(), dir.display()))?;
    Ok(dir)
}

/// The packages installed in the toolchain root.
pub fn root_packages(root: &Path) -> Result<Vec<Package>> {
    let status = root.join("var/lib/dpkg/status");
    Ok(installed_packages(
        &std::fs::read_to_string(&status)
            .with_context(|| format!("reading {}", status.display()))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            arch: String::new(),
        }
    }

    #[test]
    fn cross_versions_match_only_the_same_debian_build() {
        assert_eq!(strip_cross_suffix("16.2.0-3cross1"), "16.2.0-3");
        assert_eq!(strip_cross_suffix("15.3.0-4"), "15.3.0-4");
        let guest = [
            pkg("g++-16", "16.2.0-4"),
            pkg("g++-15", "15.3.0-4"),
            pkg("g++", "4:16.1.0-3"),
            pkg("gcc-16", "16.2.0-4"),
        ];
        let host = [
            pkg("g++-16-riscv64-linux-gnu", "16.2.0-3cross1"),
            pkg("g++-15-riscv64-linux-gnu", "15.3.0-4cross1"),
        ];
        let p = pairings(&guest, &host);
        assert_eq!(
            p.iter().map(|p| p.major).collect::<Vec<_>>(),
            [16, 15],
            "newest first, only g++-N"
        );
        assert!(!p[0].exact(), "16.2.0-4 vs 16.2.0-3cross1");
        assert!(
            p[0].describe().contains("versions differ, not used"),
            "{}",
            p[0].describe()
        );
        assert!(p[1].exact());
        assert_eq!(choose(&p).map(|p| p.major), Some(15));
        assert_eq!(choose(&pairings(&guest, &host[..1])), None);
        let none = pairings(&[pkg("g++-16", "16.2.0-4")], &[]);
        assert!(none[0].describe().contains("no cross compiler"));
    }
}
