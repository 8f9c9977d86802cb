//! The `[qemu]` table: the project's own `qemu-system-riscv64` (built by
//! `cargo xtask qemu build` with ACALSim's virtio-sst-device), which QEMU
//! source it is built from and where ACALSim's sources are.

use std::path::PathBuf;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::{is_hex, At};

/// QEMU 10.2 is the first release that saves the riscv timers in snapshots.
pub const DEFAULT_VERSION: &str = "10.2.2";
/// sid is the only suite whose Sources lists 10.2.2 (checked 2026-12-02).
pub const DEFAULT_SUITE: &str = "sid";
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";
/// sha256 of `qemu_10.2.2+ds.orig.tar.xz` in sid's signed Sources.
pub const DEFAULT_SHA256: &str = "be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb";

/// The resolved `[qemu]` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Qemu {
    /// Upstream release, e.g. "10.2.2".
    pub version: String,
    pub source: QemuSource,
    /// An ACALSim checkout, its `src/qemu-acalsim-sst-linux`, or a tarball of
    /// one (relative paths from the project root); `ACALSIM_SRC` overrides it.
    pub acalsim: Option<PathBuf>,
}

/// Where the QEMU source comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum QemuSource {
    /// Debian's upstream tarball `qemu_VERSION+ds.orig.tar.xz`, accepted only
    /// if its sha256 is the one in the suite's signed Sources index (and the
    /// pinned one, when given).
    Debian {
        mirror: String,
        suite: String,
        sha256: Option<String>,
    },
    /// A local release tarball, by its sha256.
    Tarball { path: PathBuf, sha256: String },
    /// A local git checkout, at exactly this commit.
    Checkout { path: PathBuf, commit: String },
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawQemu {
    version: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    suite: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
    commit: Option<Spanned<String>>,
    acalsim: Option<Spanned<String>>,
}

/// The table's keys, each checked where it is written; no table means the defaults.
pub fn resolve(r: RawQemu, at: &At) -> Result<Qemu> {
    let version = match r.version.clone() {
        Some(v) if !is_release(v.get_ref()) => {
            return Err(at(
                v.span(),
                format!(
                    "version `{}`: expected a QEMU release such as \"{DEFAULT_VERSION}\"",
                    v.get_ref()
                ),
            ))
        }
        Some(v) => v.into_inner(),
        None => DEFAULT_VERSION.to_string(),
    };
    let source = source(&version, &r, at)?;
    let acalsim = match r.acalsim {
        Some(a) if a.get_ref().trim().is_empty() => {
            return Err(at(
                a.span(),
                "acalsim is empty: give a path, or leave the key out and set ACALSIM_SRC".into(),
            ))
        }
        Some(a) => Some(PathBuf::from(a.into_inner())),
        None => None,
    };
    Ok(Qemu {
        version,
        source,
        acalsim,
    })
}

/// `source = "debian"` (the default) or a path: a tarball needs `sha256`,
/// a checkout `commit`; keys of the other kind are refused.
fn source(version: &str, r: &RawQemu, at: &At) -> Result<QemuSource> {
    let sha256 = match r.sha256.clone() {
        Some(s) if !is_hex(s.get_ref(), 64) => {
            return Err(at(
                s.span(),
                format!("sha256 `{}`: expected 64 hex digits", s.get_ref()),
            ))
        }
        s => s.map(|s| (s.span(), s.into_inner().to_lowercase())),
    };
    let from_debian = r.source.as_ref().is_none_or(|s| s.get_ref() == "debian");
    if from_debian {
        if let Some(c) = &r.commit {
            return Err(at(
                c.span(),
                "`commit` pins a local git checkout (`source = \"PATH\"`); the Debian tarball is pinned by `sha256`".into(),
            ));
        }
        let sha256 = sha256
            .map(|(_, s)| s)
            .or_else(|| (version == DEFAULT_VERSION).then(|| DEFAULT_SHA256.to_string()));
        return Ok(QemuSource::Debian {
            mirror: r
                .mirror
                .clone()
                .map_or_else(|| DEFAULT_MIRROR.to_string(), Spanned::into_inner),
            suite: r
                .suite
                .clone()
                .map_or_else(|| DEFAULT_SUITE.to_string(), Spanned::into_inner),
            sha256,
        });
    }
    let path_key = r.source.clone().expect("not the Debian source");
    if let Some(k) = r.suite.as_ref().or(r.mirror.as_ref()) {
        return Err(at(
            k.span(),
            "`suite` and `mirror` apply to `source = \"debian\"` only".into(),
        ));
    }
    let path = PathBuf::from(path_key.get_ref());
    let is_tarball = [".tar.xz", ".tar.gz", ".tar.bz2", ".tgz", ".tar"]
        .iter()
        .any(|ext| path_key.get_ref().ends_with(ext));
    match (is_tarball, sha256, r.commit.clone()) {
        (true, Some((_, sha256)), None) => Ok(QemuSource::Tarball { path, sha256 }),
        (true, None, _) => Err(at(
            path_key.span(),
            "a tarball `source` needs `sha256` (its checksum, 64 hex digits)".into(),
        )),
        (true, Some(_), Some(c)) => Err(at(
            c.span(),
            "a tarball is pinned by `sha256`; `commit` is for a git checkout".into(),
        )),
        (false, None, Some(c)) if is_hex(c.get_ref(), 40) => Ok(QemuSource::Checkout {
            path,
            commit: c.into_inner().to_lowercase(),
        }),
        (false, None, Some(c)) => Err(at(
            c.span(),
            format!(
                "commit `{}`: expected a full 40-hex-digit commit id",
                c.get_ref()
            ),
        )),
        (false, Some((span, _)), _) => Err(at(
            span,
            "a checkout `source` is pinned by `commit`; `sha256` is for a tarball (.tar.xz, .tar.gz, …)".into(),
        )),
        (false, None, None) => Err(at(
            path_key.span(),
            format!("source `{}`: \"debian\", a tarball (.tar.xz, .tar.gz, …) with `sha256`, or a git checkout with `commit`", path_key.get_ref()),
        )),
    }
}

fn is_release(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}
