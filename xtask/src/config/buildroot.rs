//! The `[images.NAME.buildroot]` table: which Buildroot, which toolchain,
//! kernel and packages. Parsed with the rest of `acalsim.toml` (same spans,
//! same file:line:col errors); turned into defconfig text by `defconfig.rs`.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::values::{is_hex, At};

pub const LIBCS: &[&str] = &["glibc", "musl", "uclibc"];

/// A resolved Buildroot image description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Buildroot {
    /// Buildroot release, e.g. "2024.02.13".
    pub version: String,
    pub source: Source,
    /// Name of the generated defconfig (`buildroot-external/configs/NAME_defconfig`).
    pub defconfig: String,
    pub libc: String,
    /// C++ in the toolchain (numpy, LLVM/Clang and CMake need it).
    pub cxx: bool,
    /// Linux version built for the guest, e.g. "6.18".
    pub kernel_version: String,
    /// Which kernel headers the toolchain (glibc, every program) is built against.
    pub kernel_headers: KernelHeaders,
    /// Kernel config fragments, relative to the external tree.
    pub kernel_fragments: Vec<String>,
    /// Build OpenSBI (fw_jump) instead of using QEMU's bundled one.
    pub opensbi: bool,
    /// Buildroot package names: `python-numpy` -> BR2_PACKAGE_PYTHON_NUMPY.
    pub packages: Vec<String>,
    /// Any other symbol, verbatim: `BR2_PACKAGE_PYTHON3_SQLITE = "y"`.
    pub symbols: BTreeMap<String, String>,
}

/// The toolchain's kernel headers (`kernel_headers`): those of the kernel
/// being built (`"kernel"`, the default), or one of Buildroot's own header
/// versions by series (`"6.6"`), which may be older than the kernel: programs
/// built against older headers run on a newer kernel, never the reverse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KernelHeaders {
    AsKernel,
    Series(u32, u32),
}

/// As written in the config: `"kernel"` or `"6.6"`.
impl Serialize for KernelHeaders {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            KernelHeaders::AsKernel => s.serialize_str("kernel"),
            KernelHeaders::Series(major, minor) => s.collect_str(&format_args!("{major}.{minor}")),
        }
    }
}

/// Where the Buildroot tree comes from. A local path or tarball in
/// `ACALSIM_BUILDROOT_SRC` overrides it (offline use).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    /// A git tag, verified against its commit id.
    Git {
        url: String,
        tag: String,
        commit: String,
    },
    /// A release tarball, verified against its sha256.
    Tarball { url: String, sha256: String },
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawBuildroot {
    version: Option<Spanned<String>>,
    git: Option<Spanned<String>>,
    commit: Option<Spanned<String>>,
    tarball: Option<Spanned<String>>,
    sha256: Option<Spanned<String>>,
    defconfig: Option<Spanned<String>>,
    libc: Option<Spanned<String>>,
    cxx: Option<bool>,
    kernel_version: Option<Spanned<String>>,
    kernel_headers: Option<Spanned<String>>,
    kernel_fragments: Option<Vec<String>>,
    opensbi: Option<bool>,
    packages: Option<Spanned<Vec<String>>>,
    symbols: Option<Spanned<BTreeMap<String, String>>>,
}

pub const DEFAULT_VERSION: &str = "2024.02.13";
pub const DEFAULT_GIT: &str = "https://gitlab.com/buildroot.org/buildroot.git";
/// The commit of tag 2024.02.13 (the seed's Buildroot).
pub const DEFAULT_COMMIT: &str = "e687e3815f76c1c5ea9fb52b6558bedfe53ab117";
pub const DEFAULT_KERNEL: &str = "6.1.44";

/// Child keys win, key by key (for `extends`).
pub fn merge(child: RawBuildroot, base: RawBuildroot) -> RawBuildroot {
    RawBuildroot {
        version: child.version.or(base.version),
        git: child.git.or(base.git),
        commit: child.commit.or(base.commit),
        tarball: child.tarball.or(base.tarball),
        sha256: child.sha256.or(base.sha256),
        defconfig: child.defconfig.or(base.defconfig),
        libc: child.libc.or(base.libc),
        cxx: child.cxx.or(base.cxx),
        kernel_version: child.kernel_version.or(base.kernel_version),
        kernel_headers: child.kernel_headers.or(base.kernel_headers),
        kernel_fragments: child.kernel_fragments.or(base.kernel_fragments),
        opensbi: child.opensbi.or(base.opensbi),
        packages: child.packages.or(base.packages),
        symbols: child.symbols.or(base.symbols),
    }
}

/// The table's keys, each checked where it is written.
pub fn resolve(image: &str, r: RawBuildroot, at: &At) -> Result<Buildroot> {
    let version_span = r.version.as_ref().map_or(0..0, Spanned::span);
    let version = match r.version.clone() {
        Some(v) if !is_version(v.get_ref()) => {
            return Err(at(
                v.span(),
                format!(
                    "version `{}`: expected a Buildroot release such as \"2024.02.13\"",
                    v.get_ref()
                ),
            ))
        }
        Some(v) => v.into_inner(),
        None => DEFAULT_VERSION.to_string(),
    };
    let source = source(image, &version, version_span, &r, at)?;
    let defconfig = match r.defconfig {
        Some(d) if !is_symbolish(d.get_ref()) => {
            return Err(at(
                d.span(),
                format!(
                    "defconfig `{}`: lowercase letters, digits and '_' (without _defconfig)",
                    d.get_ref()
                ),
            ))
        }
        Some(d) => d.into_inner(),
        None => image.replace('-', "_"),
    };
    let libc = match r.libc {
        Some(l) if !LIBCS.contains(&l.get_ref().as_str()) => {
            return Err(at(
                l.span(),
                format!(
                    "libc `{}` is not valid; valid: {}",
                    l.get_ref(),
                    LIBCS.join(", ")
                ),
            ))
        }
        Some(l) => l.into_inner(),
        None => "glibc".into(),
    };
    let kernel_version = match r.kernel_version {
        Some(k) if kernel_series(k.get_ref()).is_none() => {
            return Err(at(
                k.span(),
                format!(
                    "kernel_version `{}`: expected a Linux version such as \"6.1.44\"",
                    k.get_ref()
                ),
            ))
        }
        Some(k) => k.into_inner(),
        None => DEFAULT_KERNEL.into(),
    };
    let kernel_headers = kernel_headers(r.kernel_headers, &kernel_version, at)?;
    let (packages, symbols) = (packages(r.packages, at)?, symbols(r.symbols, at)?);
    Ok(Buildroot {
        version,
        source,
        defconfig,
        libc,
        cxx: r.cxx.unwrap_or(true),
        kernel_version,
        kernel_headers,
        kernel_fragments: r
            .kernel_fragments
            .unwrap_or_else(|| vec!["board/acalsim/linux.fragment".into()]),
        opensbi: r.opensbi.unwrap_or(true),
        packages,
        symbols,
    })
}

/// Where the tree comes from: a git tag verified by its commit (the
/// default, with the pinned commit of the default version) or a tarball
/// verified by its sha256.
fn source(
    image: &str,
    version: &str,
    version_span: std::ops::Range<usize>,
    r: &RawBuildroot,
    at: &At,
) -> Result<Source> {
    Ok(match (r.git.clone(), r.tarball.clone()) {
        (Some(g), Some(t)) => {
            return Err(at(
                t.span(),
                format!("give either `git` ({}) or `tarball`, not both", g.get_ref()),
            ));
        }
        (None, Some(t)) => {
            let Some(sha) = r.sha256.clone() else {
                return Err(at(
                    t.span(),
                    "`tarball` needs `sha256` (the tarball's checksum, 64 hex digits)".into(),
                ));
            };
            if !is_hex(sha.get_ref(), 64) {
                return Err(at(
                    sha.span(),
                    format!("sha256 `{}`: expected 64 hex digits", sha.get_ref()),
                ));
            }
            Source::Tarball {
                url: t.into_inner(),
                sha256: sha.into_inner().to_lowercase(),
            }
        }
        (git, None) => {
            let url = git
                .map(Spanned::into_inner)
                .unwrap_or_else(|| DEFAULT_GIT.to_string());
            let commit = match r.commit.clone() {
                Some(c) if !is_hex(c.get_ref(), 40) => {
                    return Err(at(c.span(), format!("commit `{}`: expected a full 40-hex-digit commit id", c.get_ref())))
                }
                Some(c) => c.into_inner().to_lowercase(),
                None if version == DEFAULT_VERSION => DEFAULT_COMMIT.to_string(),
                None => {
                    return Err(at(
                        version_span,
                        format!(
                            "image `{image}`: Buildroot {version} from git needs `commit` (the tag's commit id) so the source can be verified"
                        ),
                    ))
                }
            };
            Source::Git {
                url,
                tag: version.to_string(),
                commit,
            }
        }
    })
}

/// `"kernel"` or a series `"MAJOR.MINOR"` no newer than the kernel: the
/// headers must be at least as old as the kernel the image runs.
fn kernel_headers(
    written: Option<Spanned<String>>,
    kernel_version: &str,
    at: &At,
) -> Result<KernelHeaders> {
    let Some(h) = written else {
        return Ok(KernelHeaders::AsKernel);
    };
    if h.get_ref() == "kernel" {
        return Ok(KernelHeaders::AsKernel);
    }
    let series = match kernel_series(h.get_ref()) {
        Some(s) if h.get_ref().split('.').count() == 2 => s,
        _ => {
            return Err(at(
                h.span(),
                format!(
                "kernel_headers `{}`: expected \"kernel\" (the headers of the kernel being built) \
                     or a series of Buildroot's own kernel headers such as \"6.6\"",
                h.get_ref()
            ),
            ))
        }
    };
    if kernel_series(kernel_version).is_some_and(|k| series > k) {
        return Err(at(
            h.span(),
            format!(
                "kernel_headers `{}` is newer than kernel_version `{kernel_version}`: the toolchain's \
                 headers must not be newer than the kernel the image runs",
                h.get_ref()
            ),
        ));
    }
    Ok(KernelHeaders::Series(series.0, series.1))
}

fn packages(packages: Option<Spanned<Vec<String>>>, at: &At) -> Result<Vec<String>> {
    Ok(match packages {
        Some(p) => {
            if let Some(bad) = p.get_ref().iter().find(|n| !is_package(n)) {
                return Err(at(p.span(), format!("packages: `{bad}` is not a Buildroot package name (lowercase letters, digits, '-')")));
            }
            p.into_inner()
        }
        None => vec![],
    })
}

fn symbols(
    symbols: Option<Spanned<BTreeMap<String, String>>>,
    at: &At,
) -> Result<BTreeMap<String, String>> {
    Ok(match symbols {
        Some(s) => {
            if let Some(bad) = s.get_ref().keys().find(|k| {
                !k.starts_with("BR2_")
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }) {
                return Err(at(s.span(), format!("symbols: `{bad}` is not a Buildroot symbol (BR2_ followed by A-Z, 0-9, '_')")));
            }
            s.into_inner()
        }
        None => BTreeMap::new(),
    })
}

/// "6.1.44" -> (6, 1): what Buildroot's headers option is named after.
pub fn kernel_series(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    if parts.any(|p| p.parse::<u32>().is_err()) {
        return None;
    }
    Some((major, minor))
}

fn is_version(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

fn is_symbolish(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_package(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
