//! `cargo xtask image`: config -> base layer -> top layer -> kernel, initrd,
//! rootfs images, manifest and run.sh in `target/xtask/images/NAME/`.
//!
//! Everything is built in `target/xtask/build/NAME/` and renamed into place at
//! the end, so an interrupted build leaves the previous image intact and the
//! next run starts clean. Two content keys decide what is reused: the image key
//! (config + every input file; equal -> nothing to do) and the base-layer key
//! (what mmdebstrap sees; equal -> the cached layer is unpacked instead).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::cache::{self, ContentKey};
use crate::config::Image;
use crate::debian::{self, BootstrapPlan};
use crate::flags;
use crate::host;
use crate::initramfs::{self, Compression};
use crate::manifest::{self, Artifact, BuildInfo, DebianSource, Manifest, StepTime};
use crate::native::{self, NativeSpec};
use crate::progress::{human_bytes, human_duration, Step, Steps};
use crate::project::Project;

/// Bump when the build changes in a way the inputs do not show.
const BUILD_FORMAT: &str = "debian-image-v2";
const KERNEL_FILE: &str = "vmlinux";
const INITRD_FILE: &str = "initrd.img";

pub fn run(project: &Project, flags: &flags::Image) -> Result<()> {
    let config = project.config()?;
    let image = config.image(flags.name.as_deref())?;
    let sh = &project.sh;
    let key = key_of(project, image)?;
    let out_dir = project.images_dir().join(&image.name);

    if !flags.rebuild && !flags.no_cache {
        if let Ok(m) = Manifest::read(&out_dir) {
            if m.config_hash == key && m.artifacts_present(&out_dir) {
                eprintln!(
                    "image `{}` is up to date ({})",
                    image.name,
                    out_dir.display()
                );
                print_summary(&m, &out_dir);
                return Ok(());
            }
        }
    }
    if let Some(br) = &image.buildroot {
        host::require(
            sh,
            &[
                "make", "g++", "git", "tar", "xz", "rsync", "bc", "cpio", "unzip", "file", "patch",
                "wget", "qemu-img",
            ],
        )?;
        let options = crate::buildroot::build::Options {
            offline: flags.offline,
        };
        return crate::buildroot::build::build(project, image, br, &key, &options);
    }
    preflight(sh)?;
    let inputs = Inputs::load(project, image)?;
    build(project, image, &inputs, &key, flags.no_cache)
}

/// The content key of any image, whatever its flavour.
fn key_of(project: &Project, image: &Image) -> Result<String> {
    match image.buildroot {
        Some(_) => crate::buildroot::build::image_key(project, image),
        None => image_key(image, &Inputs::load(project, image)?),
    }
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

/// The data files an image is built from, read once.
pub struct Inputs {
    pub package_sets: BTreeMap<String, String>,
    pub base_packages: Vec<String>,
    /// `extra_package_sets` then `extra_packages`: installed on top of the base layer.
    pub top_packages: Vec<String>,
    root: PathBuf,
}

impl Inputs {
    pub fn load(project: &Project, image: &Image) -> Result<Inputs> {
        let mut package_sets = BTreeMap::new();
        for name in image.package_sets.iter().chain(&image.extra_package_sets) {
            let path = project
                .root
                .join("debian/packages")
                .join(format!("{name}.list"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            package_sets.insert(name.clone(), text);
        }
        let base_packages = debian::base_packages(image, &package_sets)?;
        let top_packages = debian::top_packages(image, &package_sets)?;
        Ok(Inputs {
            package_sets,
            base_packages,
            top_packages,
            root: project.root.clone(),
        })
    }
}

/// Key of the base layer: exactly what the bootstrapper sees.
fn base_layer_key(image: &Image, inputs: &Inputs, check_valid_until: bool) -> Result<String> {
    let mut key = ContentKey::new("debian-base-layer-v1");
    key.add("bootstrapper", image.bootstrapper.as_bytes())
        .add("suite", image.suite.as_bytes())
        .add("mirror", image.mirror.as_bytes())
        .add("components", image.components.join(",").as_bytes())
        .add("packages", inputs.base_packages.join(",").as_bytes())
        .add("check_valid_until", &[check_valid_until as u8]);
    key.add_file(
        "path-exclude",
        &inputs.root.join("debian/dpkg/path-exclude"),
    )?;
    key.add_dir(&inputs.root.join("debian/hooks"))?;
    Ok(key.hex())
}

/// The resolved config as the image keys hash it (pinned by a golden test).
pub fn key_input(image: &Image) -> Result<String> {
    serde_json::to_string(image).context("serialising image config")
}

/// Key of the whole image: the resolved config and every file that shapes it.
fn image_key(image: &Image, inputs: &Inputs) -> Result<String> {
    let mut key = ContentKey::new(BUILD_FORMAT);
    key.add("image", key_input(image)?.as_bytes());
    for (name, text) in &inputs.package_sets {
        key.add(name, text.as_bytes());
    }
    for dir in ["debian", "qemu", "guest-scripts/runner"] {
        key.add_dir(&inputs.root.join(dir))?;
    }
    for wheel in &image.wheels {
        let path = inputs.root.join(wheel);
        if !path.is_file() {
            bail!("image `{}`: wheels: {} does not exist (a PyTorch wheel comes from `cargo xtask pytorch build`)", image.name, path.display());
        }
        key.add_file(wheel, &path)?;
    }
    Ok(key.hex())
}

fn build(
    project: &Project,
    image: &Image,
    inputs: &Inputs,
    key: &str,
    no_cache: bool,
) -> Result<()> {
    let sh = &project.sh;
    let started = Instant::now();
    let work = project.build_dir(&image.name);
    remove_dir(&work)?; // whatever an interrupted build left
    let rootfs = work.join("rootfs");
    let out = work.join("out");
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let log = project.logs_dir().join(format!("image-{}.log", image.name));
    let mut steps = Steps::new(5, log, project.verbose)?;
    eprintln!(
        "building image `{}` (Debian {} riscv64, {})",
        image.name, image.suite, image.bootstrapper
    );

    let check_valid_until = debian::check_valid_until(sh, image);
    if !check_valid_until {
        eprintln!("    note: apt's Valid-Until check is off (host apt policy or config); signatures are still verified");
    }
    let cache = cache::cache_dir()?;
    let layer_key = base_layer_key(image, inputs, check_valid_until)?;
    let layer = cache
        .join("layers")
        .join(format!("{}-{}.tar.zst", image.suite, &layer_key[..16]));
    let layer_cached = layer.exists() && !no_cache;

    let native_spec = NativeSpec {
        suite: image.suite.clone(),
        mirror: image.mirror.clone(),
        components: image.components.clone(),
        check_valid_until,
    };
    let native_log = project
        .logs_dir()
        .join(format!("native-{}-amd64.log", image.suite));
    steps.step(
        if layer_cached {
            "unpacking cached base layer"
        } else {
            "bootstrapping base layer"
        },
        |step| {
            if layer_cached {
                unpack_layer(sh, step, &layer, &rootfs)
            } else {
                // The native helper bootstraps on the core the emulated dpkg leaves idle.
                let helper = {
                    let (cache, spec, log) =
                        (cache.clone(), native_spec.clone(), native_log.clone());
                    std::thread::spawn(move || native::ensure(&Shell::new()?, &cache, &spec, &log))
                };
                let plan = BootstrapPlan {
                    bootstrapper: image.bootstrapper.clone(),
                    suite: image.suite.clone(),
                    mirror: image.mirror.clone(),
                    components: image.components.clone(),
                    packages: inputs.base_packages.clone(),
                    check_valid_until,
                    dpkg_excludes: project.root.join("debian/dpkg/path-exclude"),
                    hooks_dir: project.root.join("debian/hooks"),
                    apt_cache: cache.join("apt").join(format!("{}-riscv64", image.suite)),
                    target: rootfs.clone(),
                };
                step.say(&format!(
                    "{} {} packages + dependencies",
                    image.bootstrapper,
                    plan.packages.len()
                ));
                debian::bootstrap(sh, step, &plan)?;
                let native = match helper.join() {
                    Ok(Ok(dir)) => Some(dir),
                    Ok(Err(e)) => {
                        step.say(&format!(
                            "native helper unavailable, finishing under emulation: {e:#}"
                        ));
                        None
                    }
                    Err(_) => None,
                };
                native::finish_deferred(sh, step, &rootfs, native.as_deref())?;
                save_layer(sh, step, &rootfs, &layer)
            }
        },
    )?;
    let release_date = debian::release_date(&rootfs).unwrap_or_else(|| "unknown".into());

    steps.step("customising (users, network, extra packages)", |step| {
        if !inputs.top_packages.is_empty() {
            install_top_packages(
                sh,
                step,
                image,
                &inputs.top_packages,
                &rootfs,
                check_valid_until,
            )?;
            let native = native::ensure(sh, &cache, &native_spec, &native_log).ok();
            native::finish_deferred(sh, step, &rootfs, native.as_deref())?;
        }
        remove_packages_and_install_wheels(project, step, image, &rootfs)?;
        customise(project, step, image, &rootfs)
    })?;

    let (kernel_version, initrd_modules) = steps.step("kernel and minimal initrd", |step| {
        let version = kernel_version(&rootfs)?;
        step.say(&format!("kernel {version}"));
        std::fs::copy(
            rootfs.join("boot").join(format!("vmlinux-{version}")),
            out.join(KERNEL_FILE),
        )
        .with_context(|| format!("copying the kernel vmlinux-{version} from the rootfs"))?;
        let n =
            initramfs::build_minimal(sh, &project.root, &rootfs, &version, &out.join(INITRD_FILE))?;
        Ok((version, n))
    })?;

    let packages = manifest::installed_packages(
        &std::fs::read_to_string(rootfs.join("var/lib/dpkg/status"))
            .context("reading the image's dpkg status")?,
    );
    let (rootfs_files, used_bytes) = steps.step("root filesystem images", |step| {
        write_rootfs_images(sh, step, image, &rootfs, &out)
    })?;

    let cmdline = BTreeMap::from([
        // By label: extra disks (`run --drive`) may be probed before the root.
        (
            "disk".to_string(),
            "root=LABEL=acalsim-root rw console=ttyS0 panic=-1".to_string(),
        ),
        (
            "initramfs".to_string(),
            "rdinit=/init console=ttyS0 panic=-1".to_string(),
        ),
    ]);
    let out_dir = project.images_dir().join(&image.name);
    let timings: Vec<StepTime> = steps
        .timings
        .iter()
        .map(|(s, t)| StepTime {
            step: s.clone(),
            secs: *t,
        })
        .collect();
    steps.step("manifest, run.sh and install", |step| {
        step.say("hashing artifacts");
        let mut rootfs_artifacts = BTreeMap::new();
        for (format, file) in &rootfs_files {
            rootfs_artifacts.insert(format.clone(), artifact(&out, file)?);
        }
        let manifest = Manifest {
            schema: manifest::SCHEMA,
            name: image.name.clone(),
            flavour: image.flavour.clone(),
            arch: "riscv64".into(),
            description: image.description.clone(),
            config_hash: key.to_string(),
            created: utc_now(sh),
            kernel: artifact(&out, KERNEL_FILE)?,
            initrd: Some(artifact(&out, INITRD_FILE)?),
            firmware: None,
            rootfs: rootfs_artifacts,
            cmdline: cmdline.clone(),
            kernel_version: kernel_version.clone(),
            run: image.run.clone(),
            debian: Some(DebianSource {
                suite: image.suite.clone(),
                mirror: image.mirror.clone(),
                components: image.components.clone(),
                bootstrapper: image.bootstrapper.clone(),
                release_date: release_date.clone(),
                check_valid_until,
            }),
            buildroot: None,
            packages: packages.clone(),
            tools: tool_versions(sh),
            build: BuildInfo {
                total_secs: started.elapsed().as_secs_f64(),
                steps: timings.clone(),
                base_layer_cached: layer_cached,
                rootfs_used_bytes: used_bytes,
            },
        };
        write_run_script(project, &manifest, &out)?;
        manifest.write(&out)?;
        install(&out, &out_dir)?;
        Ok(())
    })?;
    remove_dir(&work)?;

    let m = Manifest::read(&out_dir)?;
    eprintln!(
        "built image `{}` in {} ({} packages, {initrd_modules} initrd modules, Release {release_date})",
        image.name,
        human_duration(steps.elapsed()),
        m.packages.len()
    );
    print_summary(&m, &out_dir);
    Ok(())
}

fn unpack_layer(sh: &Shell, step: &Step, layer: &Path, rootfs: &Path) -> Result<()> {
    std::fs::create_dir_all(rootfs).with_context(|| format!("creating {}", rootfs.display()))?;
    step.run(cmd!(
        sh,
        "tar --numeric-owner --xattrs --xattrs-include=* -I zstd -xpf {layer} -C {rootfs}"
    ))
}

/// Stores the base layer in the user cache, written under a temporary name
/// and renamed, so a half-written layer is never mistaken for a good one.
fn save_layer(sh: &Shell, step: &Step, rootfs: &Path, layer: &Path) -> Result<()> {
    step.say("saving base layer to the cache");
    let dir = layer.parent().context("layer path has no parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = layer.with_extension("partial");
    step.run(cmd!(
        sh,
        "tar --numeric-owner --xattrs --xattrs-include=* -I 'zstd -T0 -1' -cf {tmp} -C {rootfs} ."
    ))?;
    std::fs::rename(&tmp, layer)
        .with_context(|| format!("renaming {} to {}", tmp.display(), layer.display()))
}

/// `extra_packages`, with the slow maintainer scripts still deferred.
fn install_top_packages(
    sh: &Shell,
    step: &Step,
    image: &Image,
    packages: &[String],
    rootfs: &Path,
    check_valid_until: bool,
) -> Result<()> {
    if !check_valid_until {
        // apt inside the image talks to the same frozen archive.
        write(
            rootfs,
            "etc/apt/apt.conf.d/99acalsim-valid-until",
            "Acquire::Check-Valid-Until \"false\";\n",
        )?;
    }
    step.say(&format!("installing {}", packages.join(" ")));
    let mut argv = vec!["apt-get", "install", "-y", "--no-install-recommends"];
    argv.extend(packages.iter().map(String::as_str));
    let env = [("DEBIAN_FRONTEND", "noninteractive".to_string())];
    debian::in_chroot(sh, step, rootfs, &env, &argv)
        .map_err(|e| debian::explain_apt_failure(e, &image.suite, &image.mirror))
}

/// `remove_packages` out, then `wheels` in with the image's own pip: a
/// source-built torch replaces the prebuilt python3-torch this way.
fn remove_packages_and_install_wheels(
    project: &Project,
    step: &Step,
    image: &Image,
    rootfs: &Path,
) -> Result<()> {
    let sh = &project.sh;
    let env = [("DEBIAN_FRONTEND", "noninteractive".to_string())];
    if !image.remove_packages.is_empty() {
        step.say(&format!("removing {}", image.remove_packages.join(" ")));
        let mut argv = vec!["apt-get", "remove", "-y"];
        argv.extend(image.remove_packages.iter().map(String::as_str));
        debian::in_chroot(sh, step, rootfs, &env, &argv)?;
    }
    if image.wheels.is_empty() {
        return Ok(());
    }
    if !rootfs.join("usr/lib/python3/dist-packages/pip").is_dir() {
        bail!(
            "image `{}` lists wheels but has no pip: add python3-pip to its extra_packages",
            image.name
        );
    }
    let dir = "root/.acalsim-wheels";
    std::fs::create_dir_all(rootfs.join(dir))
        .with_context(|| format!("creating {dir} in the rootfs"))?;
    let mut argv = vec![
        "python3".to_string(),
        "-m".into(),
        "pip".into(),
        "install".into(),
        "--no-deps".into(),
        "--no-index".into(),
        "--break-system-packages".into(),
        "--root-user-action=ignore".into(),
    ];
    for wheel in &image.wheels {
        let src = project.root.join(wheel);
        let name = src.file_name().context("wheel path has no file name")?;
        std::fs::copy(&src, rootfs.join(dir).join(name))
            .with_context(|| format!("copying {} into the rootfs", src.display()))?;
        argv.push(format!("/{dir}/{}", name.to_string_lossy()));
    }
    step.say(&format!(
        "installing {} wheel(s) with pip",
        image.wheels.len()
    ));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let installed = debian::in_chroot(sh, step, rootfs, &env, &argv);
    let _ = std::fs::remove_dir_all(rootfs.join(dir));
    installed
}

fn customise(project: &Project, step: &Step, image: &Image, rootfs: &Path) -> Result<()> {
    let sh = &project.sh;
    let overlay = project.root.join("debian/overlay");
    fs_extra::dir::copy(
        &overlay,
        rootfs,
        &fs_extra::dir::CopyOptions::new()
            .content_only(true)
            .overwrite(true),
    )
    .with_context(|| format!("copying {} into the rootfs", overlay.display()))?;
    install_runner(&project.root, rootfs)?;
    let env = [("ACALSIM_USER", image.user.clone())];
    let script = "/root/.acalsim-customize.sh";
    std::fs::copy(
        project.root.join("debian/customize.sh"),
        rootfs.join(script.trim_start_matches('/')),
    )
    .context("copying debian/customize.sh into the rootfs")?;
    let ran = debian::in_chroot(sh, step, rootfs, &env, &["/bin/sh", script]);
    let _ = std::fs::remove_file(rootfs.join(script.trim_start_matches('/')));
    ran?;
    // Written from the host: inside the chroot these are the host's own files.
    write(rootfs, "etc/hostname", &format!("{}\n", image.hostname))?;
    write(
        rootfs,
        "etc/hosts",
        &format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{}\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
            image.hostname
        ),
    )?;
    let resolv = rootfs.join("etc/resolv.conf");
    let _ = std::fs::remove_file(&resolv);
    std::fs::copy(overlay.join("etc/resolv.conf"), &resolv).context("writing etc/resolv.conf")?;
    Ok(())
}

/// The guest half of `cargo xtask run` (guest-scripts/runner): the fast
/// boot's PID 1 and the job runner in /usr/lib/acalsim, the systemd units in
/// /etc/systemd/system (customize.sh enables them).
fn install_runner(root: &Path, rootfs: &Path) -> Result<()> {
    let runner = root.join("guest-scripts/runner");
    let lib = rootfs.join("usr/lib/acalsim");
    std::fs::create_dir_all(&lib).with_context(|| format!("creating {}", lib.display()))?;
    for entry in
        std::fs::read_dir(&runner).with_context(|| format!("listing {}", runner.display()))?
    {
        let path = entry
            .with_context(|| format!("listing {}", runner.display()))?
            .path();
        let Some(file) = path.file_name() else {
            continue;
        };
        let unit = path
            .extension()
            .is_some_and(|e| e == "service" || e == "target");
        let dest = if unit {
            rootfs.join("etc/systemd/system").join(file)
        } else {
            lib.join(file)
        };
        std::fs::copy(&path, &dest)
            .with_context(|| format!("copying {} to {}", path.display(), dest.display()))?;
        let mode = if unit { 0o644 } else { 0o755 };
        std::fs::set_permissions(&dest, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", dest.display()))?;
    }
    Ok(())
}

fn write(rootfs: &Path, rel: &str, text: &str) -> Result<()> {
    let path = rootfs.join(rel);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// The single `vmlinux-VERSION` Debian installs in /boot.
fn kernel_version(rootfs: &Path) -> Result<String> {
    let boot = rootfs.join("boot");
    let mut versions: Vec<String> = std::fs::read_dir(&boot)
        .with_context(|| format!("listing {}", boot.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("vmlinux-")
                .map(str::to_string)
        })
        .collect();
    versions.sort();
    match versions.as_slice() {
        [] => bail!("no /boot/vmlinux-* in the rootfs: is the `kernel` package in acalsim.toml a riscv64 kernel image?"),
        [one] => Ok(one.clone()),
        many => bail!("several kernels in /boot ({}); list exactly one kernel package", many.join(", ")),
    }
}

/// Size for `size = "auto"`: the content plus a quarter and 256 MiB of room, in 64 MiB steps.
pub fn auto_size(content_bytes: u64) -> u64 {
    let want = content_bytes + content_bytes / 4 + (256 << 20);
    want.div_ceil(64 << 20) * (64 << 20)
}

fn write_rootfs_images(
    sh: &Shell,
    step: &Step,
    image: &Image,
    rootfs: &Path,
    out: &Path,
) -> Result<(Vec<(String, String)>, u64)> {
    let content = cmd!(sh, "du -sx --block-size=1 {rootfs}")
        .quiet()
        .read()
        .context("measuring the rootfs with du")?;
    let content: u64 = content
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("parsing du output")?;
    let size = match image.size {
        Some(size) if size < content + content / 10 => bail!(
            "image `{}`: size = {} cannot hold the {} root filesystem; raise `size` in acalsim.toml or use \"auto\"",
            image.name, human_bytes(size), human_bytes(content)
        ),
        Some(size) => size,
        None => auto_size(content),
    };
    let mut files = Vec::new();
    let mut used = 0;
    if image.formats.iter().any(|f| f == "ext4") {
        let ext4 = out.join("rootfs.ext4");
        step.say(&format!(
            "mkfs.ext4 -d ({} in a {} filesystem)",
            human_bytes(content),
            human_bytes(size)
        ));
        let size_k = format!("{}k", size / 1024);
        step.run(cmd!(
            sh,
            "mkfs.ext4 -q -F -L acalsim-root -E root_owner=0:0 -d {rootfs} {ext4} {size_k}"
        ))?;
        used = ext4_used_bytes(sh, &ext4)?;
        files.push(("ext4".to_string(), "rootfs.ext4".to_string()));
    }
    if image.formats.iter().any(|f| f == "qcow2") {
        step.say("qemu-img convert to qcow2 (zstd)");
        let (ext4, qcow2) = (out.join("rootfs.ext4"), out.join("rootfs.qcow2"));
        step.run(cmd!(
            sh,
            "qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd {ext4} {qcow2}"
        ))?;
        files.push(("qcow2".to_string(), "rootfs.qcow2".to_string()));
    }
    if image.formats.iter().any(|f| f == "initramfs") {
        step.say("packing the rootfs as an initramfs cpio (zstd)");
        // The kernel runs /init from an initramfs; systemd is the init here too.
        let init = rootfs.join("init");
        let _ = std::fs::remove_file(&init);
        std::os::unix::fs::symlink("/sbin/init", &init).context("linking /init to /sbin/init")?;
        initramfs::pack_cpio(sh, rootfs, &out.join("rootfs.cpio.zst"), Compression::Zstd)?;
        files.push(("initramfs".to_string(), "rootfs.cpio.zst".to_string()));
    }
    Ok((files, used))
}

/// Blocks in use times block size, from the superblock.
fn ext4_used_bytes(sh: &Shell, ext4: &Path) -> Result<u64> {
    let header = cmd!(sh, "dumpe2fs -h {ext4}")
        .quiet()
        .ignore_stderr()
        .read()
        .with_context(|| format!("dumpe2fs -h {}", ext4.display()))?;
    let field = |name: &str| -> Option<u64> {
        header.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|v| v.trim().trim_start_matches(':').trim().parse().ok())
        })
    };
    let (count, free, block) = (
        field("Block count"),
        field("Free blocks"),
        field("Block size"),
    );
    match (count, free, block) {
        (Some(c), Some(f), Some(b)) => Ok((c - f) * b),
        _ => bail!("unexpected dumpe2fs output for {}", ext4.display()),
    }
}

fn artifact(dir: &Path, file: &str) -> Result<Artifact> {
    let path = dir.join(file);
    let size = std::fs::metadata(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    Ok(Artifact {
        path: file.to_string(),
        sha256: cache::sha256_file(&path)?,
        size,
    })
}

fn tool_versions(sh: &Shell) -> BTreeMap<String, String> {
    host::probe(sh)
        .into_iter()
        .filter_map(|s| s.version.map(|v| (s.tool.command.to_string(), v)))
        .collect()
}

fn utc_now(sh: &Shell) -> String {
    cmd!(sh, "date -u +%Y-%m-%dT%H:%M:%SZ")
        .quiet()
        .read()
        .unwrap_or_default()
}

/// `run.sh`: boots the image with plain QEMU, no xtask needed (`qemu/run.sh.in`).
pub fn write_run_script(project: &Project, m: &Manifest, out: &Path) -> Result<()> {
    let template_path = project.root.join("qemu/run.sh.in");
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let text = render_run_script(&template, m);
    let path = out.join("run.sh");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", path.display()))
}

pub fn render_run_script(template: &str, m: &Manifest) -> String {
    let rootfs = |f: &str| m.rootfs.get(f).map(|a| a.path.clone()).unwrap_or_default();
    let cmdline = |k: &str| m.cmdline.get(k).cloned().unwrap_or_default();
    template
        .replace("@NAME@", &m.name)
        .replace("@KERNEL@", &m.kernel.path)
        .replace(
            "@DISK_INITRD@",
            &m.initrd
                .as_ref()
                .map(|a| format!("-initrd \"$here/{}\"", a.path))
                .unwrap_or_default(),
        )
        .replace(
            "@BIOS@",
            &m.firmware
                .as_ref()
                .map(|a| format!("\"$here/{}\"", a.path))
                .unwrap_or_else(|| "default".into()),
        )
        .replace("@EXT4@", &rootfs("ext4"))
        .replace("@QCOW2@", &rootfs("qcow2"))
        .replace("@INITRAMFS@", &rootfs("initramfs"))
        .replace("@DISK_CMDLINE@", &cmdline("disk"))
        .replace("@INITRAMFS_CMDLINE@", &cmdline("initramfs"))
        .replace("@SMP@", &m.run.smp.to_string())
        .replace("@MEMORY_MIB@", &m.run.memory_mib.to_string())
}

/// Replaces `dest` with `staged`: the old image stays whole until the new one
/// is complete, and is removed only after the new one is in place.
pub fn install(staged: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("image dir has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let old = parent.join(format!(
        ".{}.old",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    remove_dir(&old)?;
    if dest.exists() {
        std::fs::rename(dest, &old).with_context(|| format!("moving {} aside", dest.display()))?;
    }
    std::fs::rename(staged, dest)
        .with_context(|| format!("renaming {} to {}", staged.display(), dest.display()))?;
    remove_dir(&old)
}

fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

fn print_summary(m: &Manifest, dir: &Path) {
    eprintln!("  {}", dir.display());
    for a in m.artifacts() {
        eprintln!("    {:<18} {:>10}", a.path, human_bytes(a.size));
    }
    if m.build.rootfs_used_bytes > 0 {
        eprintln!(
            "    ext4 in use        {:>10}",
            human_bytes(m.build.rootfs_used_bytes)
        );
    }
    eprintln!("  boot it: {}/run.sh", dir.display());
}

/// `cargo xtask images`: what the config declares and what is built.
pub fn list(project: &Project) -> Result<()> {
    let config = project.config()?;
    println!(
        "{:<22} {:<9} {:<10} {:<24} STATE",
        "IMAGE", "FLAVOUR", "RELEASE", "PACKAGES"
    );
    for (name, image) in &config.images {
        let dir = project.images_dir().join(name);
        let state = match Manifest::read(&dir) {
            Ok(m) => {
                // A missing input (a wheel not built yet) makes it outdated, not the listing fail.
                let current = key_of(project, image).is_ok_and(|k| k == m.config_hash)
                    && m.artifacts_present(&dir);
                format!(
                    "{} ({})",
                    if current { "built" } else { "outdated" },
                    m.created
                )
            }
            Err(_) => "not built".to_string(),
        };
        let default = if *name == config.default_image {
            " (default)"
        } else {
            ""
        };
        let (suite, sets) = match &image.buildroot {
            Some(br) => (
                br.version.clone(),
                format!("{} packages", br.packages.len()),
            ),
            None => (
                image.suite.clone(),
                image
                    .package_sets
                    .iter()
                    .chain(&image.extra_package_sets)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("+"),
            ),
        };
        println!(
            "{:<22} {:<9} {:<10} {:<24} {state}{default}",
            name, image.flavour, suite, sets
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_size_leaves_room_in_64m_steps() {
        assert_eq!(auto_size(0), 256 << 20);
        let s = auto_size(1200 << 20);
        assert_eq!(s % (64 << 20), 0);
        assert!(s >= (1200 << 20) + (300 << 20) + (256 << 20));
    }

    #[test]
    fn run_script_fills_every_placeholder_from_the_manifest() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../qemu/run.sh.in"))
                .unwrap();
        let art = |p: &str| Artifact {
            path: p.into(),
            sha256: String::new(),
            size: 1,
        };
        let m = Manifest {
            cmdline: BTreeMap::from([
                ("disk".into(), "root=/dev/vda rw".into()),
                ("initramfs".into(), "rdinit=/init".into()),
            ]),
            run: crate::config::RunDefaults {
                smp: 3,
                memory_mib: 1536,
            },
            ..manifest::sample()
        };
        let text = render_run_script(&template, &m);
        let placeholder = text
            .match_indices('@')
            .any(|(i, _)| text[i + 1..].starts_with(|c: char| c.is_ascii_uppercase()));
        assert!(!placeholder, "unfilled placeholder:\n{text}");
        assert!(text.contains(r#"-smp "${SMP:-3}""#) && text.contains(r#""${MEMORY_MIB:-1536}M""#));
        assert!(
            text.contains(r#"-append "root=/dev/vda rw""#)
                && text.contains(r#"ext4="rootfs.ext4""#)
                && text.contains(r#"-drive "file=$here/$ext4,"#)
        );
        assert!(
            text.contains("initramfs=\"\"\n"),
            "no initramfs artifact: --initramfs refuses"
        );
        assert!(text.contains("-bios default") && text.contains("-no-reboot"));
        assert!(
            text.contains(r#"-initrd "$here/initrd.img" -append "root=/dev/vda rw""#),
            "{text}"
        );
        // Buildroot: its own firmware, no initrd before a disk boot.
        let m = Manifest {
            initrd: None,
            firmware: Some(art("fw_jump.elf")),
            ..m
        };
        let text = render_run_script(&template, &m);
        assert!(text.contains(r#"-bios "$here/fw_jump.elf""#), "{text}");
        assert!(
            text.contains(r#"exec "$qemu" "$@"  -append "root=/dev/vda rw""#),
            "{text}"
        );
    }

    #[test]
    fn install_replaces_the_old_image_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (staged, dest) = (dir.path().join("staged"), dir.path().join("images/x"));
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("old-only"), b"old").unwrap();
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join("new"), b"new").unwrap();
        install(&staged, &dest).unwrap();
        assert!(dest.join("new").exists() && !dest.join("old-only").exists() && !staged.exists());
        assert!(!dir.path().join("images/.x.old").exists());
    }
}
