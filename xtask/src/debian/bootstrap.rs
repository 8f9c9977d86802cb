//! Debian riscv64 root filesystems: the bootstrap command (pure), running it,
//! and turning apt's failures into advice.
//!
//! The speed comes from what dpkg does *not* do under qemu-user: docs, man pages
//! and locales are never unpacked (`debian/dpkg/path-exclude`), `py3compile`
//! and `update-initramfs` are deferred by `debian/hooks/` (byte-compilation then
//! runs once on both cores; the initrd is built natively by `initramfs.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::config::{Bootstrapper, Debian};
use crate::progress::Step;

/// Everything the bootstrapper needs, resolved from the config and the project tree.
#[derive(Debug, Clone, PartialEq)]
pub struct BootstrapPlan {
    pub bootstrapper: Bootstrapper,
    pub suite: String,
    pub mirror: String,
    pub components: Vec<String>,
    /// Package sets and the kernel; `extra_packages` go on top of this layer.
    pub packages: Vec<String>,
    pub check_valid_until: bool,
    pub dpkg_excludes: PathBuf,
    pub hooks_dir: PathBuf,
    pub apt_cache: PathBuf,
    pub target: PathBuf,
}

/// Package names from a set file: one or more per line, `#` starts a comment.
pub fn parse_package_set(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(str::to_string)
        .collect()
}

/// The base-layer package list: every set in order, then the kernel, without duplicates.
pub fn base_packages(d: &Debian, sets: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut packages = Vec::new();
    add_sets(&d.package_sets, sets, &mut packages)?;
    add_unique(&mut packages, &d.kernel);
    Ok(packages)
}

/// The top-layer package list: every `extra_package_sets` set in order, then
/// `extra_packages`, without duplicates.
pub fn top_packages(d: &Debian, sets: &BTreeMap<String, String>) -> Result<Vec<String>> {
    let mut packages = Vec::new();
    add_sets(&d.extra_package_sets, sets, &mut packages)?;
    for p in &d.extra_packages {
        add_unique(&mut packages, p);
    }
    Ok(packages)
}

/// Appends the packages of the sets `names` (texts in `sets`) that `packages` lacks.
fn add_sets(
    names: &[String],
    sets: &BTreeMap<String, String>,
    packages: &mut Vec<String>,
) -> Result<()> {
    for name in names {
        let text = sets
            .get(name)
            .with_context(|| format!("package set `{name}` not loaded"))?;
        for p in parse_package_set(text) {
            if !crate::config::is_package_name(&p) {
                bail!("debian/packages/{name}.list: `{p}` is not a Debian package name");
            }
            add_unique(packages, &p);
        }
    }
    Ok(())
}

fn add_unique(packages: &mut Vec<String>, package: &str) {
    if !packages.iter().any(|p| p == package) {
        packages.push(package.to_string());
    }
}

/// mmdebstrap's argv for the base layer. The apt archive cache is synced in and
/// out of the user cache, so a rebuild downloads nothing it already has.
pub fn mmdebstrap_args(plan: &BootstrapPlan) -> Vec<String> {
    let mut args = vec![
        "--mode=root".to_string(),
        "--variant=minbase".into(),
        "--architectures=riscv64".into(),
        // apt and dpkg output goes to the step log (timestamped) and the spinner.
        "--verbose".into(),
        format!("--components={}", plan.components.join(",")),
        format!("--include={}", plan.packages.join(",")),
        format!("--dpkgopt={}", plan.dpkg_excludes.display()),
        "--dpkgopt=force-unsafe-io".into(),
        // Keep the lists for the top layer.
        "--skip=cleanup/apt/lists".into(),
        format!("--hook-directory={}", plan.hooks_dir.display()),
    ];
    args.extend(shared_mmdebstrap_args(
        &plan.apt_cache,
        plan.check_valid_until,
    ));
    args.extend([
        plan.suite.clone(),
        plan.target.display().to_string(),
        plan.mirror.clone(),
    ]);
    args
}

/// The mmdebstrap options every bootstrap here shares: the .debs are synced
/// in from and out to the user cache, so a rebuild downloads nothing it
/// already has; and the Valid-Until policy (signatures are verified either way).
pub fn shared_mmdebstrap_args(apt_cache: &Path, check_valid_until: bool) -> Vec<String> {
    let cache = apt_cache.display();
    let mut args = vec![
        // Keep the downloaded .debs for sync-out.
        "--skip=download/empty".to_string(),
        r#"--setup-hook=mkdir -p "$1"/var/cache/apt/archives"#.into(),
        format!("--setup-hook=sync-in {cache} /var/cache/apt/archives/"),
        format!("--customize-hook=sync-out /var/cache/apt/archives {cache}"),
        r#"--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb"#.into(),
    ];
    if !check_valid_until {
        args.push(r#"--aptopt=Acquire::Check-Valid-Until "false""#.into());
    }
    args
}

/// Adds the remedy to an apt failure when its cause is recognised.
pub fn explain_apt_failure(e: anyhow::Error, suite: &str, mirror: &str) -> anyhow::Error {
    match apt_failure_hint(&format!("{e:#}"), suite, mirror) {
        Some(hint) => e.context(hint),
        None => e,
    }
}

/// debootstrap's argv: the selectable, slower backend (no hooks; it keeps its
/// .debs in the rootfs, which the top layer cleans).
pub fn debootstrap_args(plan: &BootstrapPlan) -> Vec<String> {
    vec![
        "--arch=riscv64".to_string(),
        "--variant=minbase".into(),
        format!("--components={}", plan.components.join(",")),
        format!("--include={}", plan.packages.join(",")),
        "--keyring=/usr/share/keyrings/debian-archive-keyring.gpg".into(),
        plan.suite.clone(),
        plan.target.display().to_string(),
        plan.mirror.clone(),
    ]
}

/// Whether apt should enforce Valid-Until: the config's choice, else the host's
/// apt policy (hosts that use a frozen snapshot archive turn it off).
pub fn check_valid_until(sh: &Shell, d: &Debian) -> bool {
    if let Some(explicit) = d.check_valid_until {
        return explicit;
    }
    let dump = cmd!(sh, "apt-config dump Acquire::Check-Valid-Until")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();
    !host_disables_valid_until(&dump)
}

fn host_disables_valid_until(apt_config_dump: &str) -> bool {
    apt_config_dump.lines().any(|l| {
        let l = l.trim().to_ascii_lowercase();
        l.starts_with("acquire::check-valid-until")
            && (l.contains("\"false\"") || l.contains("\"0\"") || l.contains("\"no\""))
    })
}

/// Runs the bootstrapper into `plan.target`, explaining the failures users meet.
/// It runs in a private mount and PID namespace: whatever it mounts in the
/// target vanishes with it, even if it is killed before it can clean up.
pub fn bootstrap(sh: &Shell, step: &Step, plan: &BootstrapPlan) -> Result<()> {
    std::fs::create_dir_all(&plan.apt_cache)
        .with_context(|| format!("creating {}", plan.apt_cache.display()))?;
    let (tool, args) = match plan.bootstrapper {
        Bootstrapper::Debootstrap => ("debootstrap", debootstrap_args(plan)),
        Bootstrapper::Mmdebstrap => ("mmdebstrap", mmdebstrap_args(plan)),
    };
    let result = step.run(cmd!(
        sh,
        "unshare --mount --pid --fork --kill-child {tool} {args...}"
    ));
    result.map_err(|e| explain_apt_failure(e, &plan.suite, &plan.mirror))
}

/// Recognises the apt failures that have a clear cause and remedy.
pub fn apt_failure_hint(output: &str, suite: &str, mirror: &str) -> Option<String> {
    let failed_file = || {
        output
            .lines()
            .filter(|l| l.contains("Failed to fetch"))
            .find_map(|l| l.split_whitespace().find(|w| w.contains("://")))
            .map(|u| format!(" ({u})"))
            .unwrap_or_default()
    };
    if output.contains("Hash Sum mismatch")
        || output.contains("File has unexpected size")
        || output.contains("Mirror sync in progress")
    {
        return Some(format!(
            "the `{suite}` riscv64 index files on {mirror} do not match its signed InRelease{}: the mirror is stale or mid-sync. \
             Signature checks stay on; use suite = \"sid\" (consistent here) or another mirror in acalsim.toml",
            failed_file()
        ));
    }
    if output.contains("is expired") || output.contains("is not valid yet") {
        return Some(format!(
            "the `{suite}` Release file on {mirror} is past its Valid-Until date (a frozen or snapshot mirror). \
             If that is expected, set check_valid_until = false for this image in acalsim.toml (signatures are still verified)"
        ));
    }
    if output.contains("NO_PUBKEY") || output.contains("is not signed") {
        return Some(format!("{mirror} `{suite}` is not signed by a key in debian-archive-keyring; install or update debian-archive-keyring"));
    }
    if output.contains("Unable to locate package")
        || output.contains("has no installation candidate")
    {
        let pkg = output
            .lines()
            .find_map(|l| l.split("Unable to locate package ").nth(1))
            .map(|p| format!(" `{}`", p.trim()))
            .unwrap_or_default();
        return Some(format!("package{pkg} is not in `{suite}` riscv64 on {mirror}; check the package sets and extra_packages"));
    }
    if output.contains("Temporary failure resolving") || output.contains("Could not connect") {
        return Some(format!(
            "cannot reach {mirror}; check the network or set `mirror` in acalsim.toml"
        ));
    }
    None
}

/// `Date:` of the first InRelease in the rootfs's apt lists.
pub fn release_date(root: &Path) -> Option<String> {
    let lists = std::fs::read_dir(root.join("var/lib/apt/lists")).ok()?;
    lists
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("_InRelease"))
        .find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("Date:").map(|d| d.trim().to_string()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> BootstrapPlan {
        BootstrapPlan {
            bootstrapper: Bootstrapper::Mmdebstrap,
            suite: "sid".into(),
            mirror: "http://deb.debian.org/debian".into(),
            components: vec!["main".into(), "contrib".into()],
            packages: vec!["python3".into(), "linux-image-riscv64".into()],
            check_valid_until: false,
            dpkg_excludes: "/p/debian/dpkg/path-exclude".into(),
            hooks_dir: "/p/debian/hooks".into(),
            apt_cache: "/c/apt/sid".into(),
            target: "/t/rootfs".into(),
        }
    }

    #[test]
    fn mmdebstrap_args_keep_verification_and_cache_debs() {
        let a = mmdebstrap_args(&plan());
        assert_eq!(
            &a[..3],
            [
                "--mode=root",
                "--variant=minbase",
                "--architectures=riscv64"
            ]
        );
        assert!(a.contains(&"--components=main,contrib".into()));
        assert!(a.contains(&"--include=python3,linux-image-riscv64".into()));
        assert!(a.contains(&"--dpkgopt=/p/debian/dpkg/path-exclude".into()));
        assert!(a.contains(&"--setup-hook=sync-in /c/apt/sid /var/cache/apt/archives/".into()));
        assert!(a.contains(&"--customize-hook=sync-out /var/cache/apt/archives /c/apt/sid".into()));
        assert!(a.contains(&"--hook-directory=/p/debian/hooks".into()));
        assert!(a.contains(&r#"--aptopt=Acquire::Check-Valid-Until "false""#.into()));
        assert!(!a.iter().any(|x| x.contains("AllowInsecure")
            || x.contains("trusted=yes")
            || x.contains("allow-unauthenticated")));
        assert_eq!(
            &a[a.len() - 3..],
            ["sid", "/t/rootfs", "http://deb.debian.org/debian"]
        );
        let strict = mmdebstrap_args(&BootstrapPlan {
            check_valid_until: true,
            ..plan()
        });
        assert!(!strict.iter().any(|x| x.contains("Valid-Until")));
    }

    #[test]
    fn debootstrap_args_use_the_archive_keyring() {
        let a = debootstrap_args(&plan());
        assert!(a.contains(&"--keyring=/usr/share/keyrings/debian-archive-keyring.gpg".into()));
        assert!(a.contains(&"--include=python3,linux-image-riscv64".into()));
        assert_eq!(
            &a[a.len() - 3..],
            ["sid", "/t/rootfs", "http://deb.debian.org/debian"]
        );
    }

    #[test]
    fn package_sets_merge_in_order_without_duplicates() {
        assert_eq!(parse_package_set("# c\na b # x\n\n  c\n"), ["a", "b", "c"]);
        let sets = BTreeMap::from([
            ("base".to_string(), "kmod\nudev\n".to_string()),
            ("py".to_string(), "python3 kmod\n".to_string()),
        ]);
        let image_t = |toml: &str| {
            crate::config::parse(toml, "f", &["base".into(), "py".into()])
                .unwrap()
                .images["t"]
                .debian()
                .cloned()
                .unwrap()
        };
        let image = image_t("[images.t]\npackage_sets = [\"base\", \"py\"]\n");
        assert_eq!(
            base_packages(&image, &sets).unwrap(),
            ["kmod", "udev", "python3", "linux-image-riscv64"]
        );
        let layered = image_t(
            "[images.t]\npackage_sets = [\"base\"]\nextra_package_sets = [\"py\"]\nextra_packages = [\"jq\", \"python3\"]\n",
        );
        assert_eq!(
            base_packages(&layered, &sets).unwrap(),
            ["kmod", "udev", "linux-image-riscv64"],
            "extra sets stay out of the base layer"
        );
        assert_eq!(
            top_packages(&layered, &sets).unwrap(),
            ["python3", "kmod", "jq"],
            "the top layer: extra sets, then extra packages, once each"
        );
        let bad = BTreeMap::from([
            ("base".to_string(), "Bad_Name\n".to_string()),
            ("py".to_string(), String::new()),
        ]);
        let e = base_packages(&image, &bad).unwrap_err().to_string();
        assert!(
            e.contains("debian/packages/base.list") && e.contains("Bad_Name"),
            "{e}"
        );
    }

    #[test]
    fn stale_mirror_is_explained_with_suite_and_file() {
        let out = "  File has unexpected size (1 != 2). Mirror sync in progress?\nE: Failed to fetch http://deb.debian.org/debian/dists/trixie/main/binary-riscv64/Packages.xz  Hash Sum mismatch\n   Hashes of expected file:";
        let hint = apt_failure_hint(out, "trixie", "http://deb.debian.org/debian").unwrap();
        assert!(
            hint.contains("`trixie`")
                && hint.contains("binary-riscv64/Packages.xz")
                && hint.contains("sid"),
            "{hint}"
        );
        let expired = apt_failure_hint(
            "E: Release file for http://x/InRelease is expired (invalid since 18d)",
            "sid",
            "m",
        )
        .unwrap();
        assert!(expired.contains("check_valid_until = false"), "{expired}");
        let missing = apt_failure_hint("E: Unable to locate package pyhton3", "sid", "m").unwrap();
        assert!(missing.contains("`pyhton3`"), "{missing}");
        assert_eq!(apt_failure_hint("all fine", "sid", "m"), None);
    }

    #[test]
    fn host_valid_until_policy_is_read_from_apt_config() {
        assert!(host_disables_valid_until(
            "Acquire::Check-Valid-Until \"false\";\n"
        ));
        assert!(!host_disables_valid_until(
            "Acquire::Check-Valid-Until \"true\";\n"
        ));
        assert!(!host_disables_valid_until(""));
    }
}
