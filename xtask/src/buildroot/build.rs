//! `cargo xtask image <buildroot image>`: verified source, the committed
//! defconfig through real Kconfig (refused if anything is dropped), every
//! download present or reachable before hours of building start, then
//! Buildroot out of tree with its downloads and ccache in the user cache, and
//! the same `manifest.json` + `run.sh` contract as Debian images (`output.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use xshell::cmd;

use crate::buildroot::source::Tree;
use crate::buildroot::{check, defconfig, defconfig_path, downloads, external_dir, source};
use crate::cache::{self, ContentKey};
use crate::config::{Buildroot, Format, Image};
use crate::kernel_modules::{self, ModuleTree};
use crate::manifest::{self, Artifact, BuildInfo, BuildrootSource, Manifest, Package};
use crate::output;
use crate::progress::{human_duration, Step, Steps};
use crate::project::Project;

/// Bump when the build's output changes for the same inputs.
const BUILD_FORMAT: &str = "acalsim-buildroot-image-v1";

/// Key over everything that shapes a Buildroot image.
pub fn image_key(project: &Project, image: &Image) -> Result<String> {
    let mut key = ContentKey::new(BUILD_FORMAT);
    key.add("image", image.key_input()?.as_bytes());
    for dir in ["buildroot-external", "guest-scripts/runner"] {
        key.add_dir(&project.root.join(dir))?;
    }
    key.add_file("run.sh.in", &project.root.join("qemu/run.sh.in"))?;
    kernel_modules::add_to_key(&mut key, &kernel_modules::resolve(project, image)?)?;
    Ok(key.hex())
}

pub struct BuildOptions {
    /// Never download: fail unless every source is already in the dl dir.
    pub offline: bool,
}

/// One Buildroot build: the image, its defconfig and where things go.
struct Build<'a> {
    project: &'a Project,
    image: &'a Image,
    br: &'a Buildroot,
    key: &'a str,
    defconfig_file: PathBuf,
    defconfig_text: String,
    /// Buildroot's output directory (kept between builds: it is the build cache).
    out: PathBuf,
    /// Where the image is assembled before it is installed.
    staged: PathBuf,
    /// `kernel_modules`, for buildroot-external's acalsim-kernel-modules.
    modules: Vec<ModuleTree>,
    started: Instant,
}

pub fn build(
    project: &Project,
    image: &Image,
    br: &Buildroot,
    key: &str,
    options: &BuildOptions,
) -> Result<()> {
    let b = prepare(project, image, br, key)?;
    let log = project.logs_dir().join(format!("image-{}.log", image.name));
    let mut steps = Steps::new(5, log, project.verbose)?;
    eprintln!(
        "building image `{}` (Buildroot {}, {} packages asked)",
        image.name,
        br.version,
        br.packages.len()
    );
    let tree = steps.step("Buildroot source", |step| {
        let tree = source::tree(&project.sh, step, br)?;
        step.say(&tree.verified);
        Ok(tree)
    })?;
    let report = steps.step("configure with Kconfig and check every symbol", |step| {
        configure(&b, step, &tree)
    })?;
    let dl = downloads::dl_dir()?;
    steps.step("downloads present or reachable", |step| {
        step.say(&downloads::check(&report.downloads, &dl, options.offline)?);
        Ok(())
    })?;
    let info = report.info;
    steps.step(
        "make (hours on the first build; ccache and downloads are reused)",
        |step| make(&b, step, &tree, &dl),
    )?;
    let timings = steps.timings.clone();
    steps.step("manifest, run.sh and install", |step| {
        step.say("collecting images");
        let m = collect(&b, step, &info, &tree.verified, &timings)?;
        output::finish(project, &m, &b.staged)
    })?;
    eprintln!(
        "built image `{}` in {}",
        image.name,
        human_duration(b.started.elapsed().as_secs_f64())
    );
    Ok(())
}

/// Refuses a stale committed defconfig and starts a clean staging dir.
fn prepare<'a>(
    project: &'a Project,
    image: &'a Image,
    br: &'a Buildroot,
    key: &'a str,
) -> Result<Build<'a>> {
    let modules = kernel_modules::resolve(project, image)?;
    kernel_modules::refuse_too_old_kernel_for_acalsim(image, br)?;
    let defconfig_file = defconfig_path(project, br);
    let defconfig_text = defconfig::render(image, br);
    if std::fs::read_to_string(&defconfig_file).ok().as_deref() != Some(defconfig_text.as_str()) {
        bail!(
            "{} is missing or differs from acalsim.toml; run `cargo xtask buildroot defconfig`",
            defconfig_file.display()
        );
    }
    let staged = project.build_dir(&image.name);
    output::remove_dir(&staged)?;
    std::fs::create_dir_all(&staged).with_context(|| format!("creating {}", staged.display()))?;
    Ok(Build {
        project,
        image,
        br,
        key,
        defconfig_file,
        defconfig_text,
        out: project.xtask_dir().join("buildroot").join(&image.name),
        staged,
        modules,
        started: Instant::now(),
    })
}

/// `make defconfig` through real Kconfig, every asked symbol checked, and
/// `make show-info`: the packages and downloads the build will have.
fn configure(b: &Build, step: &Step, tree: &Tree) -> Result<check::Report> {
    let sh = &b.project.sh;
    let external = external_dir(b.project);
    let shown = b.defconfig_file.display().to_string();
    let report = check::run(
        sh,
        step,
        &tree.path,
        Some(&external),
        &b.out,
        &b.defconfig_file,
    )?;
    step.say(report.render(&shown).trim_end());
    if report.problems() > 0 {
        bail!(
            "Kconfig of Buildroot {} did not keep the defconfig:\n{}run `cargo xtask buildroot check {}` for details",
            b.br.version,
            report.render(&shown),
            b.image.name
        );
    }
    Ok(report)
}

/// Buildroot's own `make`, its package steps reported as milestones.
fn make(b: &Build, step: &Step, tree: &Tree, dl: &Path) -> Result<()> {
    let sh = &b.project.sh;
    let (tree, out) = (&tree.path, &b.out);
    let ccache = cache::cache_dir()?.join("buildroot/ccache");
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .to_string();
    let modules = module_make_args(b)?;
    step.run_milestones(
        cmd!(sh, "make -C {tree} O={out} BR2_JLEVEL={jobs} {modules...}")
            .env("BR2_DL_DIR", dl)
            .env("BR2_CCACHE_DIR", &ccache),
        milestone,
    )
}

/// `kernel_modules` copied where acalsim-kernel-modules.mk finds them, and
/// the make variables that say where. Buildroot syncs a local package once,
/// so its build directory goes first: a changed module source is rebuilt.
fn module_make_args(b: &Build) -> Result<Vec<String>> {
    if b.modules.is_empty() {
        return Ok(vec![]);
    }
    let src = b.out.join("acalsim-kernel-modules-src");
    output::remove_dir(&src)?;
    output::remove_dir(&b.out.join("build/acalsim-kernel-modules-local"))?;
    let mut subdirs = Vec::new();
    for (i, tree) in b.modules.iter().enumerate() {
        tree.copy_into(&src.join(i.to_string()))?;
        subdirs.push(format!("{i}/{}", tree.name()));
    }
    Ok(vec![
        format!("ACALSIM_KERNEL_MODULES_SRC={}", src.display()),
        format!("ACALSIM_KERNEL_MODULES_SUBDIRS={}", subdirs.join(" ")),
    ])
}

/// Copies Buildroot's images into the staged image dir and describes them.
fn collect(
    b: &Build,
    step: &Step,
    info: &BTreeMap<String, Value>,
    verified: &str,
    timings: &[(String, f64)],
) -> Result<Manifest> {
    let (image, br, sh) = (b.image, b.br, &b.project.sh);
    let built = b.out.join("images");
    let copy = |from: &str, to: &str| -> Result<Artifact> {
        let src = built.join(from);
        std::fs::copy(&src, b.staged.join(to))
            .with_context(|| format!("copying {} (did Buildroot build it?)", src.display()))?;
        output::artifact(&b.staged, to)
    };
    let kernel = copy("Image", "Image")?;
    let firmware = br
        .opensbi
        .then(|| copy("fw_jump.elf", "fw_jump.elf"))
        .transpose()?;
    let has = |format| image.has_format(format);
    let mut rootfs = BTreeMap::new();
    if has(Format::Initramfs) {
        rootfs.insert(
            "initramfs".to_string(),
            copy("rootfs.cpio.gz", "rootfs.cpio.gz")?,
        );
    }
    if has(Format::Ext4) || has(Format::Qcow2) {
        rootfs.insert("ext4".to_string(), copy("rootfs.ext2", "rootfs.ext4")?);
    }
    if has(Format::Qcow2) {
        let (ext4, qcow2) = (b.staged.join("rootfs.ext4"), b.staged.join("rootfs.qcow2"));
        step.run(cmd!(
            sh,
            "qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd {ext4} {qcow2}"
        ))?;
        rootfs.insert(
            "qcow2".to_string(),
            output::artifact(&b.staged, "rootfs.qcow2")?,
        );
    }
    let kernel_version = info
        .get("linux")
        .and_then(|l| l["version"].as_str())
        .unwrap_or(&br.kernel_version)
        .to_string();
    Ok(Manifest {
        kernel_modules: vec![],
        schema: manifest::SCHEMA,
        name: image.name.clone(),
        flavour: "buildroot".into(),
        arch: "riscv64".into(),
        description: image.description.clone(),
        config_hash: b.key.to_string(),
        created: output::utc_now(sh),
        kernel,
        initrd: None,
        firmware,
        rootfs,
        // The drivers are built in: no initrd before the disk.
        cmdline: output::kernel_cmdlines("root=/dev/vda rw rootwait"),
        kernel_version,
        run: image.run.clone(),
        debian: None,
        buildroot: Some(BuildrootSource {
            version: br.version.clone(),
            source: verified.to_string(),
            defconfig_sha256: sha256_hex(b.defconfig_text.as_bytes()),
        }),
        packages: packages(info),
        tools: BTreeMap::new(),
        build: BuildInfo {
            total_secs: b.started.elapsed().as_secs_f64(),
            steps: output::step_times(timings),
            base_layer_cached: false,
            rootfs_used_bytes: 0,
        },
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The image's packages from `make show-info`: target packages with a version.
pub fn packages(info: &BTreeMap<String, Value>) -> Vec<Package> {
    let mut out: Vec<Package> = info
        .iter()
        .filter(|(_, v)| v["type"] == "target" && v["virtual"] != true)
        .filter_map(|(name, v)| {
            let version = v["version"].as_str()?;
            Some(Package {
                name: name.clone(),
                version: version.to_string(),
                arch: "riscv64".into(),
            })
        })
        .collect();
    out.sort();
    out
}

/// Buildroot announces each package step as `>>> pkg version Step`.
pub fn milestone(line: &str) -> Option<String> {
    let rest = line.strip_prefix(">>> ")?;
    Some(rest.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildroot::downloads::tests::info;

    #[test]
    fn packages_are_the_real_target_packages() {
        let p = packages(&info());
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "acalsim-kernel-modules",
                "linux",
                "linux-headers",
                "python-numpy"
            ]
        );
        assert_eq!(p[3].version, "1.25.0");
    }

    #[test]
    fn milestones_are_buildroots_step_lines() {
        assert_eq!(
            milestone(">>> python-numpy 1.25.0 Building").as_deref(),
            Some("python-numpy 1.25.0 Building")
        );
        assert_eq!(milestone("gcc -O2 -c foo.c"), None);
    }
}
