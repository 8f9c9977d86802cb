//! `cargo xtask buildroot check`: run the real Kconfig of the pinned Buildroot
//! on a defconfig and list every requested symbol it dropped or changed, with
//! the reason. Buildroot itself drops them silently.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;
use xshell::{cmd, Shell};

use crate::buildroot::defconfig;
use crate::buildroot::kconfig::{self, Finding, Values};
use crate::progress::CommandLog;

/// What Kconfig made of one defconfig.
pub struct Report {
    pub asked: Vec<(String, String, Finding)>,
    /// Requested packages (`BR2_PACKAGE_X=y` naming a package directory) and
    /// whether `make show-info` lists them.
    pub packages: Vec<(String, bool)>,
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

    let info = show_info(sh, log, tree, out)?;
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
    Ok(Report { asked, packages })
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

/// `make show-info`: every selected package with its version and downloads.
pub fn show_info(
    sh: &Shell,
    log: &CommandLog,
    tree: &Path,
    out: &Path,
) -> Result<BTreeMap<String, Value>> {
    // The output directory remembers the external tree from `defconfig`.
    let text = log
        .read(cmd!(
            sh,
            "make -C {tree} O={out} --no-print-directory -s show-info"
        ))
        .context("Buildroot's `make show-info` failed")?;
    serde_json::from_str(&text).context("parsing the JSON of `make show-info`")
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
