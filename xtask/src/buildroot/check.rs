//! `cargo xtask buildroot check`: run the real Kconfig of the pinned Buildroot
//! on a defconfig and list every requested symbol it dropped or changed, with
//! the reason. Buildroot itself drops them silently.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::{cmd, Shell};

use crate::buildroot::defconfig;
use crate::buildroot::downloads::{self, Download};
use crate::buildroot::hashes::{self, Hashes};
use crate::buildroot::kconfig::{self, Finding, Values};
use crate::progress::CommandLog;

/// The external tree's package that builds an image's `kernel_modules`.
const MODULES_PACKAGE: &str = "acalsim-kernel-modules";

/// What Kconfig made of one defconfig.
pub struct Report {
    pub asked: Vec<(String, String, Finding)>,
    /// Requested packages (`BR2_PACKAGE_X=y` naming a package directory) and
    /// whether `make show-info` lists them.
    pub packages: Vec<(String, bool)>,
    /// The kernel, its headers and the module package, as configured.
    pub kernel: String,
    /// `make show-info`: every selected package.
    pub info: BTreeMap<String, Value>,
    /// Every source file the build downloads, with its checksum.
    pub downloads: Vec<Download>,
}

impl Report {
    /// Requested settings lost: dropped or changed symbols, plus kept
    /// package symbols that `show-info` still does not list.
    pub fn problems(&self) -> usize {
        let lost = self
            .asked
            .iter()
            .filter(|(_, _, f)| *f != Finding::Kept)
            .count();
        let unlisted = self
            .packages
            .iter()
            .filter(|(p, ok)| {
                !ok && self
                    .asked
                    .iter()
                    .any(|(s, _, f)| *f == Finding::Kept && package_of(s) == *p)
            })
            .count();
        lost + unlisted
    }

    pub fn render(&self, what: &str) -> String {
        let kept = self
            .asked
            .iter()
            .filter(|(_, _, f)| *f == Finding::Kept)
            .count();
        let mut s = format!(
            "{what}: {} symbols asked, {kept} kept by Kconfig\n",
            self.asked.len()
        );
        for (symbol, wanted, finding) in &self.asked {
            match finding {
                Finding::Kept => {}
                Finding::Changed { got } => {
                    s.push_str(&format!("  CHANGED  {symbol}={wanted} -> {got}\n"))
                }
                Finding::Dropped { reason } => {
                    s.push_str(&format!("  DROPPED  {symbol}={wanted}: {reason}\n"))
                }
            }
        }
        s.push_str(&self.kernel);
        let listed = self.packages.iter().filter(|(_, ok)| *ok).count();
        s.push_str(&format!(
            "packages: {listed} of {} requested are selected (make show-info)",
            self.packages.len()
        ));
        let missing: Vec<&str> = self
            .packages
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(p, _)| p.as_str())
            .collect();
        if !missing.is_empty() {
            s.push_str(&format!("; not selected: {}", missing.join(", ")));
        }
        s.push('\n');
        s
    }
}

/// `make defconfig` with `defconfig_file` into `out`, then compare and explain.
/// `external`: the BR2_EXTERNAL tree, or None for plain Buildroot.
pub fn run(
    sh: &Shell,
    log: &CommandLog,
    tree: &Path,
    external: Option<&Path>,
    out: &Path,
    defconfig_file: &Path,
) -> Result<Report> {
    configure(sh, log, tree, external, out, defconfig_file)?;
    let wanted_text = std::fs::read_to_string(defconfig_file)
        .with_context(|| format!("reading {}", defconfig_file.display()))?;
    let config_path = out.join(".config");
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let values: Values = defconfig::parse(&config_text).into_iter().collect();

    let k = load_kconfig(tree, external, out);
    let asked: Vec<(String, String, Finding)> = defconfig::parse(&wanted_text)
        .into_iter()
        .map(|(symbol, wanted)| {
            let finding = kconfig::explain(&symbol, &wanted, &values, &k);
            (symbol, wanted, finding)
        })
        .collect();

    let (info, hashes) = show_info(sh, log, tree, out)?;
    let known = package_names(
        &[Some(tree), external]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    );
    let packages = asked
        .iter()
        .filter(|(_, wanted, _)| wanted == "y")
        .filter_map(|(symbol, _, _)| package_name(symbol, &known))
        .map(|p| {
            let listed = info.contains_key(&p);
            (p, listed)
        })
        .collect();
    Ok(Report {
        asked,
        packages,
        kernel: kernel_summary(&info, &values),
        downloads: downloads::list(&info, &hashes),
        info,
    })
}

/// The kernel Buildroot builds, the toolchain's kernel headers (with the
/// symbols that chose them) and whether the module package is selected: from
/// the `.config` Kconfig wrote and `make show-info`.
pub fn kernel_summary(info: &BTreeMap<String, Value>, values: &Values) -> String {
    let version = |p: &str| info.get(p).and_then(|v| v["version"].as_str());
    let Some(linux) = version("linux") else {
        return "kernel: none (BR2_LINUX_KERNEL is not set)\n".into();
    };
    let custom = values
        .get("BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE")
        .map(|v| format!(" (BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE=\"{v}\")"))
        .unwrap_or_default();
    let headers_symbols: Vec<&str> = values
        .iter()
        .filter(|(s, v)| {
            *v == "y"
                && *s != "BR2_KERNEL_HEADERS_LATEST"
                && (s.starts_with("BR2_KERNEL_HEADERS_")
                    || s.starts_with("BR2_PACKAGE_HOST_LINUX_HEADERS_CUSTOM_"))
        })
        .map(|(s, _)| s.as_str())
        .collect();
    let modules = match info.contains_key(MODULES_PACKAGE) {
        true => "selected",
        false => "not selected",
    };
    format!(
        "kernel: linux {linux}{custom}; toolchain headers: linux-headers {} ({}); {MODULES_PACKAGE}: {modules}\n",
        version("linux-headers").unwrap_or("none"),
        headers_symbols.join(", ")
    )
}

pub fn configure(
    sh: &Shell,
    log: &CommandLog,
    tree: &Path,
    external: Option<&Path>,
    out: &Path,
    defconfig_file: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let external = external.map(|e| format!("BR2_EXTERNAL={}", e.display()));
    log.run(cmd!(
        sh,
        "make -C {tree} O={out} {external...} BR2_DEFCONFIG={defconfig_file} defconfig"
    ))
    .with_context(|| {
        format!(
            "Buildroot's `make defconfig` on {} failed",
            defconfig_file.display()
        )
    })
}

/// `make show-info` and, in the same make run, `printvars` of the hash
/// variables: every selected package with its version and downloads, and
/// what Buildroot checks each download against.
pub fn show_info(
    sh: &Shell,
    log: &CommandLog,
    tree: &Path,
    out: &Path,
) -> Result<(BTreeMap<String, Value>, Hashes)> {
    let vars = hashes::PRINTVARS;
    // The output directory remembers the external tree from `defconfig`.
    let text = log
        .read(cmd!(
            sh,
            "make -C {tree} O={out} --no-print-directory -s show-info printvars VARS={vars}"
        ))
        .context("Buildroot's `make show-info printvars` failed")?;
    let json = text
        .lines()
        .find(|l| l.trim_start().starts_with('{'))
        .context("`make show-info` printed no JSON")?;
    let info: BTreeMap<String, Value> =
        serde_json::from_str(json).context("parsing the JSON of `make show-info`")?;
    // Make names in-tree hash files relative to the tree; an absent one is
    // a package without hashes (make names the path it would look at).
    let read = |p: &str| std::fs::read_to_string(tree.join(p)).ok();
    let hashes = Hashes::new(
        info.keys().map(String::as_str),
        &hashes::parse_vars(&text),
        read,
    );
    Ok((info, hashes))
}

/// Buildroot's Kconfig tree as `make` reads it: relative paths from the top,
/// `$BR2_BASE_DIR` the output directory, the external tree by its variable.
fn load_kconfig(tree: &Path, external: Option<&Path>, out: &Path) -> kconfig::Kconfig {
    let tree_s = tree.to_string_lossy().into_owned();
    let out_s = out.to_string_lossy().into_owned();
    let ext_s = external
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expand = move |arg: &str| -> String {
        let p = arg
            .replace("$(BR2_BASE_DIR)", &out_s)
            .replace("$BR2_BASE_DIR", &out_s)
            .replace("$(BR2_EXTERNAL_ACALSIM_PATH)", &ext_s)
            .replace("$BR2_EXTERNAL_ACALSIM_PATH", &ext_s);
        if p.starts_with('/') {
            p
        } else {
            format!("{tree_s}/{p}")
        }
    };
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let root = format!("{}/Config.in", tree.to_string_lossy());
    let mut k = kconfig::load(&root, &read, &expand);
    // Show paths relative to the Buildroot tree, as its documentation does.
    let prefix = format!("{}/", tree.to_string_lossy());
    for entries in k.entries.values_mut() {
        for e in entries {
            if let Some(rel) = e.file.strip_prefix(&prefix) {
                e.file = rel.to_string();
            }
        }
    }
    k
}

/// `BR2_PACKAGE_PYTHON_NUMPY` -> `python-numpy` when that package exists.
fn package_name(symbol: &str, known: &std::collections::BTreeSet<String>) -> Option<String> {
    let name = package_of(symbol);
    known.contains(&name).then_some(name)
}

fn package_of(symbol: &str) -> String {
    symbol
        .strip_prefix("BR2_PACKAGE_")
        .unwrap_or(symbol)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Every package a tree defines: `package/**/NAME/NAME.mk` (llvm lives in
/// package/llvm-project/llvm/).
fn package_names(roots: &[&Path]) -> std::collections::BTreeSet<String> {
    fn walk(dir: &Path, depth: usize, names: &mut std::collections::BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(|e| e.ok()) {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) {
                if path.join(format!("{name}.mk")).is_file() {
                    names.insert(name);
                }
            }
            if depth > 0 {
                walk(&path, depth - 1, names);
            }
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for root in roots {
        walk(&root.join("package"), 1, &mut names);
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildroot::downloads::tests::info;

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_kernel_line_names_version_headers_symbol_and_module_package() {
        let config = values(&[
            ("BR2_KERNEL_HEADERS_6_6", "y"),
            ("BR2_KERNEL_HEADERS_AS_KERNEL", "n"),
            ("BR2_KERNEL_HEADERS_LATEST", "y"),
            ("BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE", "6.18"),
        ]);
        assert_eq!(
            kernel_summary(&info(), &config),
            "kernel: linux 6.18 (BR2_LINUX_KERNEL_CUSTOM_VERSION_VALUE=\"6.18\"); toolchain headers: \
             linux-headers 6.6.84 (BR2_KERNEL_HEADERS_6_6); acalsim-kernel-modules: selected\n"
        );
        let mut without = info();
        without.remove("acalsim-kernel-modules");
        assert!(
            kernel_summary(&without, &config).ends_with("acalsim-kernel-modules: not selected\n")
        );
        without.remove("linux");
        assert_eq!(
            kernel_summary(&without, &config),
            "kernel: none (BR2_LINUX_KERNEL is not set)\n"
        );
    }
}
