//! A resolved image, as every other module reads it: the keys all images
//! have, its flavour with that flavour's keys, and the JSON its content key
//! hashes.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::buildroot::Buildroot;
use super::debian::{Bootstrapper, Debian};
use super::values::Choice;

/// One fully resolved image: every `extends` applied, every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub name: String,
    pub description: String,
    pub formats: Vec<Format>,
    /// ext4 image size in bytes; `None` means sized from the content.
    pub size: Option<u64>,
    pub hostname: String,
    pub user: String,
    pub run: RunDefaults,
    /// Out-of-tree kernel modules built against the image's kernel.
    pub kernel_modules: Vec<KernelModule>,
    /// Python modules `run --warm` imports before it saves its snapshot; a
    /// run-time choice, so not in the content key.
    pub warmup: Vec<String>,
    /// How the image is built, with that flavour's own keys.
    pub flavour: Flavour,
}

/// One `kernel_modules` entry: a Kbuild directory, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelModule {
    /// `acalsim:SUBDIR`: a directory of ACALSim's `src/qemu-acalsim-sst-linux`
    /// (ACALSIM_SRC or `[qemu] acalsim`), e.g. `acalsim:drivers`.
    Acalsim(String),
    /// A directory, relative to the project root (or absolute).
    Dir(String),
}

impl KernelModule {
    pub const ACALSIM_PREFIX: &'static str = "acalsim:";

    /// The entry as the config writes it.
    pub fn written(&self) -> String {
        match self {
            KernelModule::Acalsim(sub) => format!("{}{sub}", Self::ACALSIM_PREFIX),
            KernelModule::Dir(d) => d.clone(),
        }
    }
}

/// The two ways an image is built.
#[derive(Debug, Clone, PartialEq)]
pub enum Flavour {
    Debian(Debian),
    Buildroot(Buildroot),
}

impl Flavour {
    /// The `flavour` key's value.
    pub fn name(&self) -> &'static str {
        match self {
            Flavour::Debian(_) => "debian",
            Flavour::Buildroot(_) => "buildroot",
        }
    }
}

/// A root filesystem format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ext4,
    /// Converted from the ext4 image.
    Qcow2,
    /// The whole rootfs as a compressed cpio, booted from RAM.
    Initramfs,
}

impl Choice for Format {
    const ALL: &'static [(Self, &'static str)] = &[
        (Format::Ext4, "ext4"),
        (Format::Qcow2, "qcow2"),
        (Format::Initramfs, "initramfs"),
    ];
    fn name(self) -> &'static str {
        match self {
            Format::Ext4 => "ext4",
            Format::Qcow2 => "qcow2",
            Format::Initramfs => "initramfs",
        }
    }
}

/// How `run` boots the image unless told otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDefaults {
    pub smp: u32,
    pub memory_mib: u64,
}

impl Image {
    pub fn has_format(&self, format: Format) -> bool {
        self.formats.contains(&format)
    }

    /// The Debian keys, for a Debian image.
    pub fn debian(&self) -> Option<&Debian> {
        match &self.flavour {
            Flavour::Debian(d) => Some(d),
            Flavour::Buildroot(_) => None,
        }
    }

    /// The Buildroot table, for a Buildroot image.
    pub fn buildroot(&self) -> Option<&Buildroot> {
        match &self.flavour {
            Flavour::Buildroot(b) => Some(b),
            Flavour::Debian(_) => None,
        }
    }

    /// The resolved config as the image keys hash it: a change here rebuilds
    /// every user's images, so its shape is pinned by a golden test.
    pub fn key_input(&self) -> Result<String> {
        key_input(self)
    }
}

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
    /// Left out when empty, so images without modules keep their keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kernel_modules: Vec<String>,
}

/// What an image's content key hashes of its config. The JSON keeps the
/// shape the config had before flavours were an enum (every Debian key,
/// with its default on Buildroot images), so images built before stay current.
fn key_input(image: &Image) -> Result<String> {
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
        kernel_modules: image
            .kernel_modules
            .iter()
            .map(KernelModule::written)
            .collect(),
    };
    serde_json::to_string(&input).context("serialising image config")
}
