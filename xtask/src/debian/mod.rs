//! `cargo xtask image <debian image>`: config -> base layer -> top layer ->
//! kernel, initrd, rootfs images, manifest and run.sh.
//!
//! Everything is built in `target/xtask/build/NAME/` and renamed into place at
//! the end, so an interrupted build leaves the previous image intact and the
//! next run starts clean. [`build`] reads as its stages, each a function over
//! one [`context::Build`]; the keys that decide what is reused are in `inputs`.
//!
//! The speed comes from what dpkg does *not* do under qemu-user (see
//! `bootstrap`), from the cached base layer, and from the native helper root
//! (`native`) that does the architecture-independent work on the host.

pub mod bootstrap;
mod chroot;
mod context;
mod customise;
mod initrd;
mod inputs;
mod kernel;
mod layer;
mod modules;
mod native;
mod rootfs;

use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::cache;
use crate::config::{Debian, Image};
use crate::host;
use crate::manifest::{self, BuildInfo, DebianSource, Manifest};
use crate::output;
use crate::progress::{human_duration, Steps};
use crate::project::Project;

pub use bootstrap::{check_valid_until, shared_mmdebstrap_args};
pub use inputs::Inputs;

use context::Build;
use kernel::{INITRD_FILE, KERNEL_FILE};
use native::NativeSpec;

/// The content key of Debian image `image`.
pub fn image_key(project: &Project, image: &Image, d: &Debian) -> Result<String> {
    inputs::image_key(image, d, &Inputs::load(project, image, d)?)
}

/// Builds Debian image `image` (content key `key`) and installs it.
pub fn build(
    project: &Project,
    image: &Image,
    d: &Debian,
    key: &str,
    no_cache: bool,
) -> Result<()> {
    preflight(&project.sh)?;
    output::remove_dir(&project.build_dir(&image.name))?; // whatever an interrupted build left
    let b = context(project, image, d, key)?;
    std::fs::create_dir_all(&b.out).with_context(|| format!("creating {}", b.out.display()))?;
    let log = project.logs_dir().join(format!("image-{}.log", image.name));
    let with_modules = !b.inputs.modules.is_empty();
    let mut steps = Steps::new(5 + with_modules as usize, log, project.verbose)?;
    eprintln!(
        "building image `{}` (Debian {} riscv64, {})",
        image.name, d.suite, d.bootstrapper
    );
    if !b.check_valid_until {
        eprintln!("    note: apt's Valid-Until check is off (host apt policy or config); signatures are still verified");
    }

    let (layer, layer_cached) = layer::cached_layer(&b, no_cache)?;
    if layer_cached {
        steps.step("unpacking cached base layer", |step| {
            layer::unpack(&project.sh, step, &layer, &b.rootfs)
        })?;
    } else {
        steps.step("bootstrapping base layer", |step| {
            layer::bootstrap(&b, step, &layer)
        })?;
    }
    let release_date = bootstrap::release_date(&b.rootfs).unwrap_or_else(|| "unknown".into());
    steps.step("customising (users, network, extra packages)", |step| {
        customise::top_layer(&b, step)
    })?;
    let (kernel_version, initrd_modules) = steps.step("kernel and minimal initrd", |step| {
        kernel::kernel_and_initrd(&b, step)
    })?;
    let kernel_modules = if with_modules {
        steps.step("kernel modules (kernel_modules)", |step| {
            modules::build_and_install(&b, step, &b.inputs.modules, &kernel_version)
        })?
    } else {
        vec![]
    };
    let rootfs_images = steps.step("root filesystem images", |step| {
        rootfs::write_images(&project.sh, step, image, &b.rootfs, &b.out)
    })?;
    let timings = steps.timings.clone();
    let m = steps.step("manifest, run.sh and install", |step| {
        step.say("hashing artifacts");
        let built = Built {
            kernel_version,
            release_date: release_date.clone(),
            rootfs_images,
            layer_cached,
            timings,
            kernel_modules,
        };
        let m = manifest_of(&b, &built)?;
        output::finish(project, &m, &b.out)?;
        Ok(m)
    })?;
    output::remove_dir(&project.build_dir(&image.name))?;

    eprintln!(
        "built image `{}` in {} ({} packages, {initrd_modules} initrd modules, Release {release_date})",
        image.name,
        human_duration(steps.elapsed()),
        m.packages.len()
    );
    output::print_summary(&m, &project.images_dir().join(&image.name));
    Ok(())
}

/// Root and the host tools: checked before anything is written.
fn preflight(sh: &Shell) -> Result<()> {
    if !host::is_root()? {
        bail!("building Debian images needs root (mmdebstrap --mode=root, chroot, device nodes); run as root or with sudo");
    }
    host::require(
        sh,
        &[
            "mmdebstrap",
            "unshare",
            "mkfs.ext4",
            "dumpe2fs",
            "qemu-img",
            "cpio",
            "zstd",
            "xz",
            "tar",
        ],
    )?;
    if !host::binfmt_riscv64_ok() {
        bail!("riscv64 binaries cannot run on this host (binfmt_misc has no enabled qemu-riscv64 entry); run `cargo xtask doctor --fix`");
    }
    Ok(())
}

/// The build's context: inputs read, paths chosen, policies decided.
fn context<'a>(
    project: &'a Project,
    image: &'a Image,
    d: &'a Debian,
    key: &str,
) -> Result<Build<'a>> {
    let work = project.build_dir(&image.name);
    let check_valid_until = bootstrap::check_valid_until(&project.sh, d);
    Ok(Build {
        project,
        image,
        debian: d,
        inputs: Inputs::load(project, image, d)?,
        key: key.to_string(),
        rootfs: work.join("rootfs"),
        out: work.join("out"),
        cache: cache::cache_dir()?,
        check_valid_until,
        native: NativeSpec {
            suite: d.suite.clone(),
            mirror: d.mirror.clone(),
            components: d.components.clone(),
            check_valid_until,
        },
        native_log: project
            .logs_dir()
            .join(format!("native-{}-amd64.log", d.suite)),
        started: Instant::now(),
    })
}

/// What the stages produced that the manifest records.
struct Built {
    kernel_version: String,
    release_date: String,
    rootfs_images: rootfs::RootfsImages,
    layer_cached: bool,
    timings: Vec<(String, f64)>,
    /// The `kernel_modules` files installed, relative to the rootfs.
    kernel_modules: Vec<String>,
}

/// The manifest of the finished build, its artifacts hashed.
fn manifest_of(b: &Build, built: &Built) -> Result<Manifest> {
    let (image, out, sh) = (b.image, &b.out, &b.project.sh);
    let mut rootfs = std::collections::BTreeMap::new();
    for (format, file) in &built.rootfs_images.files {
        rootfs.insert(format.clone(), output::artifact(out, file)?);
    }
    let status = b.rootfs.join("var/lib/dpkg/status");
    let packages = manifest::installed_packages(
        &std::fs::read_to_string(&status)
            .with_context(|| format!("reading the image's dpkg status {}", status.display()))?,
    );
    Ok(Manifest {
        schema: manifest::SCHEMA,
        name: image.name.clone(),
        flavour: image.flavour.name().into(),
        arch: "riscv64".into(),
        description: image.description.clone(),
        config_hash: b.key.clone(),
        created: output::utc_now(sh),
        kernel: output::artifact(out, KERNEL_FILE)?,
        initrd: Some(output::artifact(out, INITRD_FILE)?),
        firmware: None,
        rootfs,
        // By label: extra disks (`run --drive`) may be probed before the root.
        cmdline: output::kernel_cmdlines("root=LABEL=acalsim-root rw"),
        kernel_version: built.kernel_version.clone(),
        run: image.run.clone(),
        debian: Some(DebianSource {
            suite: b.debian.suite.clone(),
            mirror: b.debian.mirror.clone(),
            components: b.debian.components.clone(),
            bootstrapper: b.debian.bootstrapper.to_string(),
            release_date: built.release_date.clone(),
            check_valid_until: b.check_valid_until,
        }),
        buildroot: None,
        kernel_modules: built.kernel_modules.clone(),
        packages,
        tools: output::tool_versions(sh),
        build: BuildInfo {
            total_secs: b.started.elapsed().as_secs_f64(),
            steps: output::step_times(&built.timings),
            base_layer_cached: built.layer_cached,
            rootfs_used_bytes: built.rootfs_images.used_bytes,
        },
    })
}
