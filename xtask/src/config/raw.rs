//! `acalsim.toml` as written: every key optional and spanned, so that an
//! error found after `extends` is merged still points at the line it came
//! from; and the merge itself (child keys win).

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::buildroot::{self as br, RawBuildroot};
use super::cosim::RawCosim;
use super::qemu::RawQemu;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub default_image: Option<Spanned<String>>,
    #[serde(default)]
    pub run: RawRun,
    #[serde(default)]
    pub images: BTreeMap<String, Spanned<RawImage>>,
    #[serde(default)]
    pub qemu: RawQemu,
    #[serde(default)]
    pub cosim: RawCosim,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub smp: Option<Spanned<u32>>,
    pub memory: Option<Spanned<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawImage {
    pub extends: Option<Spanned<String>>,
    pub flavour: Option<Spanned<String>>,
    pub description: Option<String>,
    pub suite: Option<Spanned<String>>,
    pub mirror: Option<Spanned<String>>,
    pub components: Option<Spanned<Vec<String>>>,
    pub bootstrapper: Option<Spanned<String>>,
    pub package_sets: Option<Spanned<Vec<String>>>,
    pub extra_package_sets: Option<Spanned<Vec<String>>>,
    pub extra_packages: Option<Spanned<Vec<String>>>,
    pub remove_packages: Option<Spanned<Vec<String>>>,
    pub wheels: Option<Spanned<Vec<String>>>,
    pub kernel: Option<Spanned<String>>,
    pub formats: Option<Spanned<Vec<String>>>,
    pub size: Option<Spanned<String>>,
    pub hostname: Option<Spanned<String>>,
    pub user: Option<Spanned<String>>,
    pub check_valid_until: Option<Spanned<CheckValidUntil>>,
    pub run: Option<RawRun>,
    pub kernel_modules: Option<Spanned<Vec<String>>>,
    pub warmup: Option<Spanned<Vec<String>>>,
    pub buildroot: Option<Spanned<RawBuildroot>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
pub enum CheckValidUntil {
    Bool(bool),
    Host(HostPolicy),
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum HostPolicy {
    Host,
}

/// `child` keys override `base` keys; `run` merges key by key.
pub fn merge(child: RawImage, base: RawImage) -> RawImage {
    let run = match (child.run, base.run) {
        (Some(c), Some(b)) => Some(RawRun {
            smp: c.smp.or(b.smp),
            memory: c.memory.or(b.memory),
        }),
        (c, b) => c.or(b),
    };
    RawImage {
        extends: None,
        flavour: child.flavour.or(base.flavour),
        description: child.description.or(base.description),
        suite: child.suite.or(base.suite),
        mirror: child.mirror.or(base.mirror),
        components: child.components.or(base.components),
        bootstrapper: child.bootstrapper.or(base.bootstrapper),
        package_sets: child.package_sets.or(base.package_sets),
        extra_package_sets: child.extra_package_sets.or(base.extra_package_sets),
        extra_packages: child.extra_packages.or(base.extra_packages),
        remove_packages: child.remove_packages.or(base.remove_packages),
        wheels: child.wheels.or(base.wheels),
        kernel: child.kernel.or(base.kernel),
        formats: child.formats.or(base.formats),
        size: child.size.or(base.size),
        hostname: child.hostname.or(base.hostname),
        user: child.user.or(base.user),
        check_valid_until: child.check_valid_until.or(base.check_valid_until),
        run,
        kernel_modules: child.kernel_modules.or(base.kernel_modules),
        warmup: child.warmup.or(base.warmup),
        buildroot: match (child.buildroot, base.buildroot) {
            (Some(c), Some(b)) => {
                let span = c.span();
                Some(Spanned::new(
                    span,
                    br::merge(c.into_inner(), b.into_inner()),
                ))
            }
            (c, b) => c.or(b),
        },
    }
}
