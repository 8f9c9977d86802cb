//! `acalsim.toml`: the one declarative description of every guest image.
//!
//! Parsing is pure: text in, validated [`Config`] out. Every error names the
//! file, line and column of the offending key and says what would be valid,
//! because a researcher editing the file by hand should never have to guess.
//! `raw` is the file as written (spanned, every key optional) and its
//! `extends` merge; `debian` and `buildroot` resolve each flavour's keys;
//! this module the keys every image has.

pub mod buildroot;
pub mod cosim;
pub mod debian;
mod image;
pub mod qemu;
mod raw;
mod values;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::{bail, Context, Result};
use toml::Spanned;

pub use buildroot::Buildroot;
pub use cosim::Cosim;
pub use debian::{Bootstrapper, Debian};
pub use image::{Flavour, Format, Image, KernelModule, RunDefaults};
pub use qemu::{Qemu, QemuSource};
pub use values::{check_smp, is_package_name, located, memory_mib, parse_size, MAX_SMP};

use raw::{RawConfig, RawImage, RawRun};
pub use values::Choice;
use values::{is_identifier, one_of, At};

const MIN_SIZE: u64 = 256 << 20;
const MAX_SIZE: u64 = 2 << 40;

/// The whole validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_image: String,
    pub images: BTreeMap<String, Image>,
    /// The project's own QEMU (`cargo xtask qemu build`).
    pub qemu: Qemu,
    /// Defaults of `cargo xtask cosim`.
    pub cosim: Cosim,
}

/// The names `flavour` takes, before the flavour's table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlavourName {
    Debian,
    Buildroot,
}

impl Choice for FlavourName {
    const ALL: &'static [(Self, &'static str)] = &[
        (FlavourName::Debian, "debian"),
        (FlavourName::Buildroot, "buildroot"),
    ];
    fn name(self) -> &'static str {
        match self {
            FlavourName::Debian => "debian",
            FlavourName::Buildroot => "buildroot",
        }
    }
}

impl Config {
    /// The image called `name`, or the default one; an unknown name lists the valid ones.
    pub fn image(&self, name: Option<&str>) -> Result<&Image> {
        let name = name.unwrap_or(&self.default_image);
        self.images.get(name).with_context(|| {
            format!(
                "unknown image `{name}`; images in the config: {}",
                self.names().join(", ")
            )
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.images.keys().cloned().collect()
    }
}

/// Reads and validates the config at `path`; `package_sets` are the set names
/// that exist in `debian/packages/`.
pub fn load(path: &Path, package_sets: &[String]) -> Result<Config> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config {}", path.display()))?;
    parse(&text, &path.display().to_string(), package_sets)
}

/// Parses config text; `file` is only used in error messages.
pub fn parse(text: &str, file: &str, package_sets: &[String]) -> Result<Config> {
    let at = |span: Range<usize>, msg: String| located(text, file, span, &msg);
    let raw: RawConfig = toml::from_str(text).map_err(|e| match e.span() {
        Some(span) => at(span, e.message().to_string()),
        None => anyhow::anyhow!("{file}: {}", e.message()),
    })?;

    let mut images = BTreeMap::new();
    for name in raw.images.keys() {
        let image = resolve(&raw, name, package_sets, &at)?;
        images.insert(name.clone(), image);
    }
    let default_image = match raw.default_image {
        Some(d) if !raw.images.contains_key(d.get_ref()) => {
            let valid: Vec<_> = raw.images.keys().cloned().collect();
            return Err(at(
                d.span(),
                format!(
                    "default_image `{}` is not an image here; valid: {}",
                    d.get_ref(),
                    valid.join(", ")
                ),
            ));
        }
        Some(d) => d.into_inner(),
        None => match raw.images.keys().next() {
            Some(first) => first.clone(),
            None => bail!("{file}: no [images.NAME] table; define at least one image"),
        },
    };
    let qemu = qemu::resolve(raw.qemu.clone(), &at)?;
    let cosim = cosim::resolve(raw.cosim.clone(), &at)?;
    if let Some(image) = cosim.image.as_ref().filter(|i| !images.contains_key(*i)) {
        let valid: Vec<_> = images.keys().map(String::as_str).collect();
        bail!(
            "{file}: [cosim] image `{image}` is not an image here; valid: {}",
            valid.join(", ")
        );
    }
    Ok(Config {
        default_image,
        images,
        qemu,
        cosim,
    })
}

/// Applies the `extends` chain of image `name` (child keys win) and validates the result.
fn resolve(raw: &RawConfig, name: &str, sets: &[String], at: &At) -> Result<Image> {
    let mut chain = vec![name.to_string()];
    let mut merged = raw.images[name].get_ref().clone();
    let mut parent = merged.extends.clone();
    while let Some(p) = parent {
        let Some(base) = raw.images.get(p.get_ref()) else {
            let valid: Vec<_> = raw.images.keys().cloned().collect();
            return Err(at(
                p.span(),
                format!(
                    "`extends = \"{}\"`: no such image; valid: {}",
                    p.get_ref(),
                    valid.join(", ")
                ),
            ));
        };
        if chain.contains(p.get_ref()) {
            return Err(at(
                p.span(),
                format!("`extends` cycle: {} -> {}", chain.join(" -> "), p.get_ref()),
            ));
        }
        chain.push(p.get_ref().clone());
        merged = raw::merge(merged, base.get_ref().clone());
        parent = base.get_ref().extends.clone();
    }
    let span = raw.images[name].span();
    build_image(name, merged, &raw.run, span, sets, at)
}

/// One image from its merged keys: the flavour's keys first, then the
/// keys every image has.
fn build_image(
    name: &str,
    mut r: RawImage,
    top_run: &RawRun,
    span: Range<usize>,
    sets: &[String],
    at: &At,
) -> Result<Image> {
    if !is_identifier(name) {
        return Err(at(
            span,
            format!("image name `{name}`: use lowercase letters, digits and '-'"),
        ));
    }
    let flavour = flavour(name, &mut r, sets, at)?;
    Ok(Image {
        name: name.to_string(),
        description: r.description.clone().unwrap_or_default(),
        formats: formats(r.formats, at)?,
        size: size(r.size, at)?,
        hostname: hostname(r.hostname, at)?,
        user: user(r.user, at)?,
        run: run_defaults(r.run.unwrap_or_default(), top_run, at)?,
        kernel_modules: kernel_modules(r.kernel_modules, at)?,
        warmup: warmup(r.warmup, at)?,
        flavour,
    })
}

/// The `flavour` key and its keys: a `buildroot` table exactly when the
/// flavour is buildroot, Debian's keys only on Debian images.
fn flavour(name: &str, r: &mut RawImage, sets: &[String], at: &At) -> Result<Flavour> {
    let kind = one_of(&r.flavour, "flavour", FlavourName::Debian, at)?;
    match (kind, r.buildroot.take()) {
        (FlavourName::Buildroot, table) => {
            if let Some((key, span)) = debian::first_key_set(r) {
                return Err(at(span, format!("`{key}` applies to Debian images; image `{name}` is flavour buildroot (its packages go in [images.{name}.buildroot])")));
            }
            let table = table.map(Spanned::into_inner).unwrap_or_default();
            Ok(Flavour::Buildroot(buildroot::resolve(name, table, at)?))
        }
        (FlavourName::Debian, Some(table)) => Err(at(
            table.span(),
            format!(
                "a `buildroot` table needs `flavour = \"buildroot\"` (image `{name}` is debian)"
            ),
        )),
        (FlavourName::Debian, None) => Ok(Flavour::Debian(debian::resolve(r.clone(), sets, at)?)),
    }
}

fn formats(v: Option<Spanned<Vec<String>>>, at: &At) -> Result<Vec<Format>> {
    let Some(f) = v else {
        return Ok(vec![Format::Ext4]);
    };
    let valid = Format::names().join(", ");
    let mut formats = Vec::new();
    for word in f.get_ref() {
        match Format::from_name(word) {
            Some(format) => formats.push(format),
            None => {
                return Err(at(
                    f.span(),
                    format!("unknown format `{word}`; valid: {valid}"),
                ))
            }
        }
    }
    if formats.is_empty() {
        return Err(at(
            f.span(),
            format!("formats is empty; name at least one of {valid}"),
        ));
    }
    if formats.contains(&Format::Qcow2) && !formats.contains(&Format::Ext4) {
        return Err(at(
            f.span(),
            "format qcow2 is converted from ext4: list \"ext4\" too".into(),
        ));
    }
    Ok(formats)
}

/// `kernel_modules`: `acalsim:SUBDIR` or a directory path, each at most once.
fn kernel_modules(v: Option<Spanned<Vec<String>>>, at: &At) -> Result<Vec<KernelModule>> {
    let Some(list) = v else {
        return Ok(vec![]);
    };
    let mut modules = Vec::new();
    for entry in list.get_ref() {
        let module = match entry.strip_prefix(KernelModule::ACALSIM_PREFIX) {
            Some(sub) => {
                let ok = !sub.is_empty()
                    && !sub.starts_with('/')
                    && sub.split('/').all(|c| !c.is_empty() && c != "..");
                if !ok {
                    return Err(at(list.span(), format!("kernel_modules: `{entry}`: after `acalsim:` give a directory of ACALSim's src/qemu-acalsim-sst-linux, e.g. \"acalsim:drivers\"")));
                }
                KernelModule::Acalsim(sub.to_string())
            }
            None if entry.trim().is_empty() => {
                return Err(at(list.span(), "kernel_modules: an empty entry; give a Kbuild directory (relative to the project root) or acalsim:SUBDIR".into()));
            }
            None => KernelModule::Dir(entry.clone()),
        };
        if modules.contains(&module) {
            return Err(at(
                list.span(),
                format!("kernel_modules: `{entry}` is listed twice"),
            ));
        }
        modules.push(module);
    }
    Ok(modules)
}

/// `warmup`: the Python modules `run --warm` imports before its snapshot.
fn warmup(v: Option<Spanned<Vec<String>>>, at: &At) -> Result<Vec<String>> {
    let Some(list) = v else {
        return Ok(vec![]);
    };
    for name in list.get_ref() {
        let dotted = name.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        if !dotted {
            return Err(at(list.span(), format!("warmup: `{name}` is not a Python module name (e.g. \"torch\", \"numpy.linalg\")")));
        }
    }
    Ok(list.into_inner())
}

fn size(v: Option<Spanned<String>>, at: &At) -> Result<Option<u64>> {
    match v {
        None => Ok(None),
        Some(s) if s.get_ref() == "auto" => Ok(None),
        Some(s) => {
            let bytes = parse_size(s.get_ref()).map_err(|e| at(s.span(), format!("size: {e}")))?;
            if !(MIN_SIZE..=MAX_SIZE).contains(&bytes) {
                return Err(at(s.span(), format!("size `{}` is impossible for a root filesystem; use \"auto\" or a size between 256M and 2T", s.get_ref())));
            }
            Ok(Some(bytes))
        }
    }
}

fn hostname(v: Option<Spanned<String>>, at: &At) -> Result<String> {
    let Some(h) = v else {
        return Ok("acalsim".into());
    };
    let ok = !h.get_ref().is_empty() && h.get_ref().len() <= 63 && is_identifier(h.get_ref());
    if !ok {
        return Err(at(
            h.span(),
            format!(
                "hostname `{}`: 1-63 lowercase letters, digits or '-'",
                h.get_ref()
            ),
        ));
    }
    Ok(h.into_inner())
}

fn user(v: Option<Spanned<String>>, at: &At) -> Result<String> {
    let Some(u) = v else {
        return Ok("acalsim".into());
    };
    let ok = u.get_ref().len() <= 32
        && u.get_ref().starts_with(|c: char| c.is_ascii_lowercase())
        && is_identifier(u.get_ref());
    if !ok || u.get_ref() == "root" {
        return Err(at(
            u.span(),
            format!(
                "user `{}`: a lowercase login name other than root",
                u.get_ref()
            ),
        ));
    }
    Ok(u.into_inner())
}

/// The image's `run` keys, else the top-level `[run]`'s, else the defaults.
fn run_defaults(image_run: RawRun, top_run: &RawRun, at: &At) -> Result<RunDefaults> {
    let smp = match image_run.smp.or(top_run.smp.clone()) {
        Some(s) => check_smp(*s.get_ref()).map_err(|e| at(s.span(), format!("smp = {e}")))?,
        None => 2,
    };
    let memory_mib = match image_run.memory.or(top_run.memory.clone()) {
        Some(m) => memory_mib(m.get_ref()).map_err(|e| at(m.span(), format!("memory: {e}")))?,
        None => 4096,
    };
    Ok(RunDefaults { smp, memory_mib })
}

#[cfg(test)]
mod tests;
