//! `acalsim.toml`: the one declarative description of every guest image.
//!
//! Parsing is pure: text in, validated [`Config`] out. Every error names the
//! file, line and column of the offending key and says what would be valid,
//! because a researcher editing the file by hand should never have to guess.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::buildroot::config::{self as br, Buildroot, RawBuildroot};

/// Image formats a Debian image can be written in.
pub const FORMATS: &[&str] = &["ext4", "qcow2", "initramfs"];
/// Rootfs bootstrappers.
pub const BOOTSTRAPPERS: &[&str] = &["mmdebstrap", "debootstrap"];
/// Image flavours.
pub const FLAVOURS: &[&str] = &["debian", "buildroot"];

const MIN_SIZE: u64 = 256 << 20;
const MAX_SIZE: u64 = 2 << 40;
const MIN_MEMORY: u64 = 128 << 20;

/// The whole validated config.
#[derive(Debug, Clone)]
pub struct Config {
    pub default_image: String,
    pub images: BTreeMap<String, Image>,
}

/// One fully resolved image: every `extends` applied, every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    pub name: String,
    pub flavour: String,
    pub description: String,
    pub suite: String,
    pub mirror: String,
    pub components: Vec<String>,
    pub bootstrapper: String,
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
    pub formats: Vec<String>,
    /// ext4 image size in bytes; `None` means sized from the content.
    pub size: Option<u64>,
    pub hostname: String,
    pub user: String,
    /// `None`: follow the host's apt policy (`apt-config dump`).
    pub check_valid_until: Option<bool>,
    pub run: RunDefaults,
    /// The `buildroot` table: present exactly when the flavour is buildroot.
    pub buildroot: Option<Buildroot>,
}

/// How `run` boots the image unless told otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDefaults {
    pub smp: u32,
    pub memory_mib: u64,
}

impl Image {
    /// The resolved config as the image keys hash it (pinned by a golden
    /// test: a change rebuilds every user's images).
    pub fn key_input(&self) -> Result<String> {
        serde_json::to_string(self).context("serialising image config")
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
    Ok(Config {
        default_image,
        images,
    })
}

/// Formats `msg` as `file:line:col: msg`, followed by the offending line.
fn located(text: &str, file: &str, span: Range<usize>, msg: &str) -> anyhow::Error {
    let start = span.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_no = text[..start].matches('\n').count() + 1;
    let col = text[line_start..start].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    anyhow::anyhow!("{file}:{line_no}:{col}: {msg}\n    | {line}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_image: Option<Spanned<String>>,
    #[serde(default)]
    run: RawRun,
    #[serde(default)]
    images: BTreeMap<String, Spanned<RawImage>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawRun {
    smp: Option<Spanned<u32>>,
    memory: Option<Spanned<String>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawImage {
    extends: Option<Spanned<String>>,
    flavour: Option<Spanned<String>>,
    description: Option<String>,
    suite: Option<Spanned<String>>,
    mirror: Option<Spanned<String>>,
    components: Option<Spanned<Vec<String>>>,
    bootstrapper: Option<Spanned<String>>,
    package_sets: Option<Spanned<Vec<String>>>,
    extra_package_sets: Option<Spanned<Vec<String>>>,
    extra_packages: Option<Spanned<Vec<String>>>,
    remove_packages: Option<Spanned<Vec<String>>>,
    wheels: Option<Spanned<Vec<String>>>,
    kernel: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<String>>>,
    size: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    check_valid_until: Option<Spanned<CheckValidUntil>>,
    run: Option<RawRun>,
    buildroot: Option<Spanned<RawBuildroot>>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum CheckValidUntil {
    Bool(bool),
    Host(HostPolicy),
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum HostPolicy {
    Host,
}

type At<'a> = dyn Fn(Range<usize>, String) -> anyhow::Error + 'a;

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
        merged = merge(merged, base.get_ref().clone());
        parent = base.get_ref().extends.clone();
    }
    let span = raw.images[name].span();
    build_image(name, merged, &raw.run, span, sets, at)
}

/// `child` keys override `base` keys; `run` merges key by key.
fn merge(child: RawImage, base: RawImage) -> RawImage {
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

fn build_image(
    name: &str,
    r: RawImage,
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
    let one_of =
        |v: &Option<Spanned<String>>, key: &str, valid: &[&str], default: &str| -> Result<String> {
            match v {
                Some(s) if !valid.contains(&s.get_ref().as_str()) => Err(at(
                    s.span(),
                    format!(
                        "`{key} = \"{}\"` is not valid; valid: {}",
                        s.get_ref(),
                        valid.join(", ")
                    ),
                )),
                Some(s) => Ok(s.get_ref().clone()),
                None => Ok(default.to_string()),
            }
        };
    let flavour = one_of(&r.flavour, "flavour", FLAVOURS, "debian")?;
    let buildroot = match (flavour.as_str(), r.buildroot.clone()) {
        ("buildroot", table) => {
            let debian_only = [
                ("suite", r.suite.as_ref().map(Spanned::span)),
                ("mirror", r.mirror.as_ref().map(Spanned::span)),
                ("components", r.components.as_ref().map(Spanned::span)),
                ("bootstrapper", r.bootstrapper.as_ref().map(Spanned::span)),
                ("package_sets", r.package_sets.as_ref().map(Spanned::span)),
                (
                    "extra_package_sets",
                    r.extra_package_sets.as_ref().map(Spanned::span),
                ),
                (
                    "extra_packages",
                    r.extra_packages.as_ref().map(Spanned::span),
                ),
                (
                    "remove_packages",
                    r.remove_packages.as_ref().map(Spanned::span),
                ),
                ("wheels", r.wheels.as_ref().map(Spanned::span)),
                ("kernel", r.kernel.as_ref().map(Spanned::span)),
                (
                    "check_valid_until",
                    r.check_valid_until.as_ref().map(Spanned::span),
                ),
            ];
            if let Some((key, Some(span))) = debian_only.into_iter().find(|(_, s)| s.is_some()) {
                return Err(at(span, format!("`{key}` applies to Debian images; image `{name}` is flavour buildroot (its packages go in [images.{name}.buildroot])")));
            }
            Some(br::resolve(
                name,
                table.map(Spanned::into_inner).unwrap_or_default(),
                at,
            )?)
        }
        (_, Some(table)) => {
            return Err(at(table.span(), format!("a `buildroot` table needs `flavour = \"buildroot\"` (image `{name}` is {flavour})")));
        }
        (_, None) => None,
    };
    let bootstrapper = one_of(&r.bootstrapper, "bootstrapper", BOOTSTRAPPERS, "mmdebstrap")?;

    let suite = r.suite.map_or(Ok("sid".to_string()), |s| {
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
    })?;
    let mirror = r
        .mirror
        .map_or(Ok("http://deb.debian.org/debian".to_string()), |m| {
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
        })?;
    let components = word_list(r.components, "components", at, is_identifier)?
        .unwrap_or_else(|| vec!["main".into()]);

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
    let package_sets = known_sets(r.package_sets)?.unwrap_or_else(|| vec!["base".into()]);
    let extra_package_sets = known_sets(r.extra_package_sets)?.unwrap_or_default();
    let extra_packages =
        word_list(r.extra_packages, "extra_packages", at, is_package_name)?.unwrap_or_default();
    let remove_packages =
        word_list(r.remove_packages, "remove_packages", at, is_package_name)?.unwrap_or_default();
    let wheels = match r.wheels {
        Some(w) => {
            if let Some(bad) = w.get_ref().iter().find(|p| !p.ends_with(".whl")) {
                return Err(at(
                    w.span(),
                    format!("wheels: `{bad}` is not a wheel file (NAME-VERSION-TAGS.whl)"),
                ));
            }
            w.into_inner()
        }
        None => vec![],
    };
    let kernel = match r.kernel {
        Some(k) if !is_package_name(k.get_ref()) => {
            return Err(at(
                k.span(),
                format!("kernel `{}` is not a Debian package name", k.get_ref()),
            ))
        }
        Some(k) => k.into_inner(),
        None => "linux-image-riscv64".into(),
    };

    let formats = match r.formats {
        Some(f) => {
            if let Some(bad) = f.get_ref().iter().find(|x| !FORMATS.contains(&x.as_str())) {
                return Err(at(
                    f.span(),
                    format!("unknown format `{bad}`; valid: {}", FORMATS.join(", ")),
                ));
            }
            if f.get_ref().is_empty() {
                return Err(at(
                    f.span(),
                    format!(
                        "formats is empty; name at least one of {}",
                        FORMATS.join(", ")
                    ),
                ));
            }
            if f.get_ref().iter().any(|x| x == "qcow2") && !f.get_ref().iter().any(|x| x == "ext4")
            {
                return Err(at(
                    f.span(),
                    "format qcow2 is converted from ext4: list \"ext4\" too".into(),
                ));
            }
            f.into_inner()
        }
        None => vec!["ext4".into()],
    };

    let size = match r.size {
        None => None,
        Some(s) if s.get_ref() == "auto" => None,
        Some(s) => {
            let bytes = parse_size(s.get_ref()).map_err(|e| at(s.span(), format!("size: {e}")))?;
            if !(MIN_SIZE..=MAX_SIZE).contains(&bytes) {
                return Err(at(s.span(), format!("size `{}` is impossible for a root filesystem; use \"auto\" or a size between 256M and 2T", s.get_ref())));
            }
            Some(bytes)
        }
    };

    let hostname = r.hostname.map_or(Ok("acalsim".to_string()), |h| {
        let ok = !h.get_ref().is_empty() && h.get_ref().len() <= 63 && is_identifier(h.get_ref());
        if ok {
            Ok(h.into_inner())
        } else {
            Err(at(
                h.span(),
                format!(
                    "hostname `{}`: 1-63 lowercase letters, digits or '-'",
                    h.get_ref()
                ),
            ))
        }
    })?;
    let user = r.user.map_or(Ok("acalsim".to_string()), |u| {
        let ok = u.get_ref().len() <= 32
            && u.get_ref().starts_with(|c: char| c.is_ascii_lowercase())
            && is_identifier(u.get_ref());
        if ok && u.get_ref() != "root" {
            Ok(u.into_inner())
        } else {
            Err(at(
                u.span(),
                format!(
                    "user `{}`: a lowercase login name other than root",
                    u.get_ref()
                ),
            ))
        }
    })?;
    let check_valid_until = match r.check_valid_until.map(|c| c.into_inner()) {
        None | Some(CheckValidUntil::Host(HostPolicy::Host)) => None,
        Some(CheckValidUntil::Bool(b)) => Some(b),
    };

    let image_run = r.run.unwrap_or_default();
    let smp = image_run.smp.or(top_run.smp.clone());
    let smp = match smp {
        Some(s) if !(1..=32).contains(s.get_ref()) => {
            return Err(at(
                s.span(),
                format!("smp = {}: use 1 to 32 virtual CPUs", s.get_ref()),
            ))
        }
        Some(s) => s.into_inner(),
        None => 2,
    };
    let memory_mib = match image_run.memory.or(top_run.memory.clone()) {
        Some(m) => {
            let bytes =
                parse_size(m.get_ref()).map_err(|e| at(m.span(), format!("memory: {e}")))?;
            if bytes < MIN_MEMORY {
                return Err(at(
                    m.span(),
                    format!(
                        "memory `{}` is too small to boot Debian; use at least 128M",
                        m.get_ref()
                    ),
                ));
            }
            bytes >> 20
        }
        None => 4096,
    };

    Ok(Image {
        name: name.to_string(),
        flavour,
        description: r.description.unwrap_or_default(),
        suite,
        mirror,
        components,
        bootstrapper,
        package_sets,
        extra_package_sets,
        extra_packages,
        remove_packages,
        wheels,
        kernel,
        formats,
        size,
        hostname,
        user,
        check_valid_until,
        run: RunDefaults { smp, memory_mib },
        buildroot,
    })
}

fn word_list(
    v: Option<Spanned<Vec<String>>>,
    key: &str,
    at: &At,
    ok: fn(&str) -> bool,
) -> Result<Option<Vec<String>>> {
    match v {
        Some(list) => {
            if let Some(bad) = list.get_ref().iter().find(|w| !ok(w)) {
                return Err(at(list.span(), format!("{key}: `{bad}` is not a valid name (lowercase letters, digits, '+', '-', '.')")));
            }
            Ok(Some(list.into_inner()))
        }
        None => Ok(None),
    }
}

/// Lowercase letters, digits and '-', not starting with '-'.
fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Debian policy 5.6.1: `[a-z0-9][a-z0-9+.-]+`.
pub fn is_package_name(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+.-".contains(c))
}

/// "4G", "512M", "1024K", "1T" or plain bytes, binary units.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| {
        format!("`{s}`: expected a number with an optional K, M, G or T suffix, e.g. \"4G\"")
    })?;
    let shift = match unit.trim_end_matches(['i', 'B']) {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        other => return Err(format!("`{s}`: unknown unit `{other}`; use K, M, G or T")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets() -> Vec<String> {
        ["base", "python", "torch"].map(String::from).to_vec()
    }

    fn err(text: &str) -> String {
        format!("{:#}", parse(text, "acalsim.toml", &sets()).unwrap_err())
    }

    const GOOD: &str = r#"
default_image = "torch"
[run]
smp = 2
memory = "4G"
[images.small]
suite = "sid"
package_sets = ["base", "python"]
size = "2G"
[images.torch]
extends = "small"
package_sets = ["base", "python", "torch"]
formats = ["ext4", "qcow2"]
run = { memory = "6G" }
"#;

    #[test]
    fn extends_inherits_and_overrides_keys() {
        let c = parse(GOOD, "acalsim.toml", &sets()).unwrap();
        let t = c.image(None).unwrap();
        assert_eq!(t.name, "torch");
        assert_eq!(t.size, Some(2 << 30));
        assert_eq!(t.package_sets, ["base", "python", "torch"]);
        assert_eq!(t.formats, ["ext4", "qcow2"]);
        assert_eq!(
            t.run,
            RunDefaults {
                smp: 2,
                memory_mib: 6144
            }
        );
        let s = c.image(Some("small")).unwrap();
        assert_eq!(s.run.memory_mib, 4096);
        assert_eq!(s.mirror, "http://deb.debian.org/debian");
        assert_eq!(s.bootstrapper, "mmdebstrap");
        assert_eq!(s.check_valid_until, None);
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = err("[images.a]\nsuite = \"sid\"\npackages = [\"x\"]\n");
        assert!(
            e.starts_with("acalsim.toml:3:1: unknown field `packages`"),
            "{e}"
        );
        assert!(e.contains("package_sets"), "should list valid keys: {e}");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = err("[images.a]\nsize = 4\n");
        assert!(e.starts_with("acalsim.toml:2:8:"), "{e}");
        assert!(e.contains("string"), "{e}");
    }

    #[test]
    fn unknown_image_names_are_rejected_with_valid_names() {
        let e = err("default_image = \"nope\"\n[images.a]\n");
        assert!(
            e.starts_with("acalsim.toml:1:17:") && e.contains("valid: a"),
            "{e}"
        );
        let e = err("[images.a]\nextends = \"b\"\n");
        assert!(
            e.starts_with("acalsim.toml:2:11:") && e.contains("no such image"),
            "{e}"
        );
        let c = parse("[images.a]\n", "f", &sets()).unwrap();
        let e = format!("{:#}", c.image(Some("zz")).unwrap_err());
        assert!(e.contains("unknown image `zz`") && e.contains(": a"), "{e}");
    }

    #[test]
    fn extends_cycle_is_an_error() {
        let e = err("[images.a]\nextends = \"b\"\n[images.b]\nextends = \"a\"\n");
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn impossible_sizes_are_rejected() {
        for bad in ["1M", "3P", "lots", "-1G", "99999999999999T"] {
            let e = err(&format!("[images.a]\nsize = \"{bad}\"\n"));
            assert!(e.starts_with("acalsim.toml:2:8: size"), "{bad}: {e}");
        }
        let e = err("[images.a]\nrun = { memory = \"64M\" }\n");
        assert!(e.contains("at least 128M"), "{e}");
    }

    #[test]
    fn enumerations_list_valid_values() {
        let e = err("[images.a]\nformats = [\"ext4\", \"vmdk\"]\n");
        assert!(
            e.contains("unknown format `vmdk`; valid: ext4, qcow2, initramfs"),
            "{e}"
        );
        let e = err("[images.a]\nbootstrapper = \"cdebootstrap\"\n");
        assert!(e.contains("valid: mmdebstrap, debootstrap"), "{e}");
        let e = err("[images.a]\npackage_sets = [\"base\", \"torh\"]\n");
        assert!(
            e.contains("unknown package set `torh`; valid: base, python, torch"),
            "{e}"
        );
        let e = err("[images.a]\nextra_package_sets = [\"torh\"]\n");
        assert!(
            e.contains("2:22: unknown package set `torh`; valid: base, python, torch"),
            "{e}"
        );
        let e = err("[images.a]\nflavour = \"arch\"\n");
        assert!(e.contains("valid: debian, buildroot"), "{e}");
        let e = err("[images.a]\nformats = [\"qcow2\"]\n");
        assert!(e.contains("list \"ext4\" too"), "{e}");
        let e = err("[images.a]\nwheels = [\"torch-2.14.tar.gz\"]\n");
        assert!(
            e.contains("acalsim.toml:2:10") && e.contains("is not a wheel file"),
            "{e}"
        );
        let e = err("[images.a]\nremove_packages = [\"Python3-Torch\"]\n");
        assert!(
            e.contains("remove_packages: `Python3-Torch` is not a valid name"),
            "{e}"
        );
    }

    #[test]
    fn buildroot_tables_are_validated_where_they_are_written() {
        let ok = "[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\npackages = [\"python3\", \"python-numpy\"]\n";
        let c = parse(ok, "acalsim.toml", &sets()).unwrap();
        let br = c.image(Some("br")).unwrap().buildroot.clone().unwrap();
        assert_eq!(br.version, "2024.02.13");
        assert_eq!(br.defconfig, "br");
        assert_eq!(br.libc, "glibc");
        assert!(br.cxx && br.opensbi);
        assert!(
            matches!(br.source, br::Source::Git { ref commit, .. } if commit == br::DEFAULT_COMMIT)
        );
        assert!(c.image(Some("br")).unwrap().flavour == "buildroot");

        let e = err("[images.br]\nflavour = \"buildroot\"\nsuite = \"sid\"\n");
        assert!(
            e.starts_with("acalsim.toml:3:9: `suite` applies to Debian images"),
            "{e}"
        );
        let e = err("[images.d]\n[images.d.buildroot]\nversion = \"2024.02.13\"\n");
        assert!(e.contains("needs `flavour = \"buildroot\"`"), "{e}");
        let e =
            err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\nlibc = \"bionic\"\n");
        assert!(
            e.contains("acalsim.toml:4:8") && e.contains("valid: glibc, musl, uclibc"),
            "{e}"
        );
        let e = err(
            "[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\ncommit = \"e687e38\"\n",
        );
        assert!(e.contains("full 40-hex-digit commit id"), "{e}");
        let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\nversion = \"2026.02.3\"\n");
        assert!(
            e.contains("acalsim.toml:4:11") && e.contains("needs `commit`"),
            "{e}"
        );
        let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\ntarball = \"https://x/b.tar.xz\"\n");
        assert!(e.contains("`tarball` needs `sha256`"), "{e}");
        let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\npackages = [\"Python3\"]\n");
        assert!(
            e.contains("`Python3` is not a Buildroot package name"),
            "{e}"
        );
        let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\nsymbols = { PYTHON3_SSL = \"y\" }\n");
        assert!(e.contains("`PYTHON3_SSL` is not a Buildroot symbol"), "{e}");
        let e = err("[images.br]\nflavour = \"buildroot\"\n[images.br.buildroot]\npackges = []\n");
        assert!(e.contains("unknown field `packges`"), "{e}");
    }

    #[test]
    fn bad_names_are_rejected() {
        assert!(err("[images.a]\nextra_packages = [\"Python3\"]\n")
            .contains("`Python3` is not a valid name"));
        assert!(err("[images.a]\nhostname = \"my_host\"\n").contains("hostname"));
        assert!(err("[images.a]\nuser = \"root\"\n").contains("other than root"));
        assert!(err("[images.a]\nmirror = \"ftp.debian.org\"\n").contains("http://"));
        assert!(err("[images.Bad]\n").contains("image name `Bad`"));
    }

    #[test]
    fn check_valid_until_accepts_host_or_bool() {
        let c = parse(
            "[images.a]\ncheck_valid_until = false\n[images.b]\ncheck_valid_until = \"host\"\n",
            "f",
            &sets(),
        )
        .unwrap();
        assert_eq!(c.images["a"].check_valid_until, Some(false));
        assert_eq!(c.images["b"].check_valid_until, None);
        assert!(
            err("[images.a]\ncheck_valid_until = \"maybe\"\n").starts_with("acalsim.toml:2:21:")
        );
    }

    #[test]
    fn sizes_parse_binary_units() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("4X").is_err());
    }
}
