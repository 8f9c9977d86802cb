//! The top layer: `extra_package_sets` and `extra_packages` on the base,
//! packages removed and wheels installed, then the overlay, the guest runner,
//! customize.sh, the hostname and the network.

use std::path::Path;

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::config::{Debian, Image};
use crate::progress::Step;
use crate::project::Project;

use super::bootstrap::explain_apt_failure;
use super::chroot::in_chroot;
use super::context::Build;
use super::native;

/// Everything after the base layer, in order.
pub fn top_layer(b: &Build, step: &Step) -> Result<()> {
    let sh = &b.project.sh;
    if !b.inputs.top_packages.is_empty() {
        install_top_packages(
            sh,
            step,
            b.debian,
            &b.inputs.top_packages,
            &b.rootfs,
            b.check_valid_until,
        )?;
        let native = native::ensure(sh, &b.cache, &b.native, &b.native_log, b.project.verbose).ok();
        native::finish_deferred(sh, step, &b.rootfs, native.as_deref())?;
    }
    remove_packages_and_install_wheels(b.project, step, b.image, b.debian, &b.rootfs)?;
    customise(b.project, step, b.image, &b.rootfs)
}

/// `extra_packages`, with the slow maintainer scripts still deferred.
fn install_top_packages(
    sh: &Shell,
    step: &Step,
    d: &Debian,
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
    in_chroot(sh, step, rootfs, &env, &argv)
        .map_err(|e| explain_apt_failure(e, &d.suite, &d.mirror))
}

/// `remove_packages` out, then `wheels` in with the image's own pip: a
/// source-built torch replaces the prebuilt python3-torch this way.
fn remove_packages_and_install_wheels(
    project: &Project,
    step: &Step,
    image: &Image,
    d: &Debian,
    rootfs: &Path,
) -> Result<()> {
    let sh = &project.sh;
    let env = [("DEBIAN_FRONTEND", "noninteractive".to_string())];
    if !d.remove_packages.is_empty() {
        step.say(&format!("removing {}", d.remove_packages.join(" ")));
        let mut argv = vec!["apt-get", "remove", "-y"];
        argv.extend(d.remove_packages.iter().map(String::as_str));
        in_chroot(sh, step, rootfs, &env, &argv)?;
    }
    if d.wheels.is_empty() {
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
    for wheel in &d.wheels {
        let src = project.root.join(wheel);
        let name = src.file_name().context("wheel path has no file name")?;
        std::fs::copy(&src, rootfs.join(dir).join(name))
            .with_context(|| format!("copying {} into the rootfs", src.display()))?;
        argv.push(format!("/{dir}/{}", name.to_string_lossy()));
    }
    step.say(&format!("installing {} wheel(s) with pip", d.wheels.len()));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let installed = in_chroot(sh, step, rootfs, &env, &argv);
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
    let ran = in_chroot(sh, step, rootfs, &env, &["/bin/sh", script]);
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
