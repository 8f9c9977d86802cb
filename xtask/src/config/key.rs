//! What an image's content key hashes of its config. The JSON keeps the
//! shape the config had before flavours were an enum (every Debian key, with
//! its default on Buildroot images), so images built before stay current.

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Bootstrapper, Buildroot, Debian, Flavour, Format, Image, RunDefaults};

#[derive(Serialize)]
struct KeyInput<'a> {
    name: &'a str,
    flavour: &'static str,
    description: &'a str,
    suite: &'a str,
    mirror: &'a str,
    components: &'a [String],
    bootstrapper: Bootstrapper,
    package_sets: &'a [String],
    extra_package_sets: &'a [String],
    extra_packages: &'a [String],
    remove_packages: &'a [String],
    wheels: &'a [String],
    kernel: &'a str,
    formats: &'a [Format],
    size: Option<u64>,
    hostname: &'a str,
    user: &'a str,
    check_valid_until: Option<bool>,
    run: &'a RunDefaults,
    buildroot: Option<&'a Buildroot>,
}

pub fn input(image: &Image) -> Result<String> {
    let defaults = Debian::default();
    let (debian, buildroot) = match &image.flavour {
        Flavour::Debian(d) => (d, None),
        Flavour::Buildroot(b) => (&defaults, Some(b)),
    };
    let input = KeyInput {
        name: &image.name,
        flavour: image.flavour.name(),
        description: &image.description,
        suite: &debian.suite,
        mirror: &debian.mirror,
        components: &debian.components,
        bootstrapper: debian.bootstrapper,
        package_sets: &debian.package_sets,
        extra_package_sets: &debian.extra_package_sets,
        extra_packages: &debian.extra_packages,
        remove_packages: &debian.remove_packages,
        wheels: &debian.wheels,
        kernel: &debian.kernel,
        formats: &image.formats,
        size: image.size,
        hostname: &image.hostname,
        user: &image.user,
        check_valid_until: debian.check_valid_until,
        run: &image.run,
        buildroot,
    };
    serde_json::to_string(&input).context("serialising image config")
}
