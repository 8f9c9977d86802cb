//! The keys of a Debian image: suite, mirror, bootstrapper, package sets and
//! packages, the kernel package, apt's Valid-Until policy.

use std::ops::Range;

use anyhow::Result;
use serde::Serialize;
use toml::Spanned;

use super::raw::{CheckValidUntil, HostPolicy, RawImage};
use super::values::{is_identifier, is_package_name, one_of, word_list, At, Choice};

/// How the base layer is bootstrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bootstrapper {
    Mmdebstrap,
    Debootstrap,
}

impl Choice for Bootstrapper {
    const ALL: &'static [(Self, &'static str)] = &[
        (Bootstrapper::Mmdebstrap, "mmdebstrap"),
        (Bootstrapper::Debootstrap, "debootstrap"),
    ];
    fn name(self) -> &'static str {
        match self {
            Bootstrapper::Mmdebstrap => "mmdebstrap",
            Bootstrapper::Debootstrap => "debootstrap",
        }
    }
}

impl std::fmt::Display for Bootstrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A resolved Debian image description.
#[derive(Debug, Clone, PartialEq)]
pub struct Debian {
    pub suite: String,
    pub mirror: String,
    pub components: Vec<String>,
    pub bootstrapper: Bootstrapper,
    pub package_sets: Vec<String>,
    /// Package sets installed on top of the base layer, like `extra_packages`:
    /// an image that adds a large set to another's base reuses its cached layer.
    pub extra_package_sets: Vec<String>,
    pub extra_packages: Vec<String>,
    /// Debian packages removed after installation (e.g. the prebuilt torch a wheel replaces).
    pub remove_packages: Vec<String>,
    /// Python wheels pip-installs into the image, paths relative to the project root.
    pub wheels: Vec<String>,
    pub kernel: String,
    /// `None`: follow the host's apt policy (`apt-config dump`).
    pub check_valid_until: Option<bool>,
}

impl Default for Debian {
    /// Every key's default: what an image that sets none of them gets.
    fn default() -> Debian {
        Debian {
            suite: "sid".into(),
            mirror: "http://deb.debian.org/debian".into(),
            components: vec!["main".into()],
            bootstrapper: Bootstrapper::Mmdebstrap,
            package_sets: vec!["base".into()],
            extra_package_sets: vec![],
            extra_packages: vec![],
            remove_packages: vec![],
            wheels: vec![],
            kernel: "linux-image-riscv64".into(),
            check_valid_until: None,
        }
    }
}

/// The Debian keys of `r`; `sets` are the package sets that exist.
pub fn resolve(r: RawImage, sets: &[String], at: &At) -> Result<Debian> {
    let default = Debian::default();
    let known_sets = |list: Option<Spanned<Vec<String>>>| -> Result<Option<Vec<String>>> {
        let Some(s) = list else { return Ok(None) };
        if let Some(bad) = s.get_ref().iter().find(|x| !sets.contains(x)) {
            return Err(at(
                s.span(),
                format!(
                    "unknown package set `{bad}`; valid: {} (files debian/packages/NAME.list)",
                    sets.join(", ")
                ),
            ));
        }
        Ok(Some(s.into_inner()))
    };
    Ok(Debian {
        bootstrapper: one_of(&r.bootstrapper, "bootstrapper", default.bootstrapper, at)?,
        suite: suite(r.suite, at)?.unwrap_or(default.suite),
        mirror: mirror(r.mirror, at)?.unwrap_or(default.mirror),
        components: word_list(r.components, "components", at, is_identifier)?
            .unwrap_or(default.components),
        package_sets: known_sets(r.package_sets)?.unwrap_or(default.package_sets),
        extra_package_sets: known_sets(r.extra_package_sets)?.unwrap_or_default(),
        extra_packages: word_list(r.extra_packages, "extra_packages", at, is_package_name)?
            .unwrap_or_default(),
        remove_packages: word_list(r.remove_packages, "remove_packages", at, is_package_name)?
            .unwrap_or_default(),
        wheels: wheels(r.wheels, at)?,
        kernel: kernel(r.kernel, at)?.unwrap_or(default.kernel),
        check_valid_until: match r.check_valid_until.map(|c| c.into_inner()) {
            None | Some(CheckValidUntil::Host(HostPolicy::Host)) => None,
            Some(CheckValidUntil::Bool(b)) => Some(b),
        },
    })
}

/// The first Debian-only key a non-Debian image sets, with its span.
pub fn first_key_set(r: &RawImage) -> Option<(&'static str, Range<usize>)> {
    let span = |v: Option<Range<usize>>, key: &'static str| v.map(|s| (key, s));
    None.or_else(|| span(r.suite.as_ref().map(Spanned::span), "suite"))
        .or_else(|| span(r.mirror.as_ref().map(Spanned::span), "mirror"))
        .or_else(|| span(r.components.as_ref().map(Spanned::span), "components"))
        .or_else(|| span(r.bootstrapper.as_ref().map(Spanned::span), "bootstrapper"))
        .or_else(|| span(r.package_sets.as_ref().map(Spanned::span), "package_sets"))
        .or_else(|| {
            span(
                r.extra_package_sets.as_ref().map(Spanned::span),
                "extra_package_sets",
            )
        })
        .or_else(|| {
            span(
                r.extra_packages.as_ref().map(Spanned::span),
                "extra_packages",
            )
        })
        .or_else(|| {
            span(
                r.remove_packages.as_ref().map(Spanned::span),
                "remove_packages",
            )
        })
        .or_else(|| span(r.wheels.as_ref().map(Spanned::span), "wheels"))
        .or_else(|| span(r.kernel.as_ref().map(Spanned::span), "kernel"))
        .or_else(|| {
            span(
                r.check_valid_until.as_ref().map(Spanned::span),
                "check_valid_until",
            )
        })
}

fn suite(v: Option<Spanned<String>>, at: &At) -> Result<Option<String>> {
    v.map(|s| {
        if is_identifier(s.get_ref()) {
            Ok(s.into_inner())
        } else {
            Err(at(
                s.span(),
                format!(
                    "suite `{}`: expected a Debian suite name such as sid or trixie",
                    s.get_ref()
                ),
            ))
        }
    })
    .transpose()
}

fn mirror(v: Option<Spanned<String>>, at: &At) -> Result<Option<String>> {
    v.map(|m| {
        let ok = ["http://", "https://", "file://"]
            .iter()
            .any(|p| m.get_ref().starts_with(p));
        if ok {
            Ok(m.get_ref().trim_end_matches('/').to_string())
        } else {
            Err(at(
                m.span(),
                format!(
                    "mirror `{}`: expected an http://, https:// or file:// URL",
                    m.get_ref()
                ),
            ))
        }
    })
    .transpose()
}

fn wheels(v: Option<Spanned<Vec<String>>>, at: &At) -> Result<Vec<String>> {
    let Some(w) = v else { return Ok(vec![]) };
    if let Some(bad) = w.get_ref().iter().find(|p| !p.ends_with(".whl")) {
        return Err(at(
            w.span(),
            format!("wheels: `{bad}` is not a wheel file (NAME-VERSION-TAGS.whl)"),
        ));
    }
    Ok(w.into_inner())
}

fn kernel(v: Option<Spanned<String>>, at: &At) -> Result<Option<String>> {
    match v {
        Some(k) if !is_package_name(k.get_ref()) => Err(at(
            k.span(),
            format!("kernel `{}` is not a Debian package name", k.get_ref()),
        )),
        other => Ok(other.map(Spanned::into_inner)),
    }
}
