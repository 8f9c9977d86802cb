//! `cargo xtask pytorch build`: compile PyTorch (or any CMake project) inside
//! the RISC-V guest, resumably, with ccache, and with the compiles offloaded
//! to the host's cross compiler through distcc.
//!
//! The source tree, the build directory and the ccache live on a persistent
//! build disk in the user cache (`--drive` to the guest), so an interrupted
//! build continues where it stopped. The guest half is
//! `guest-scripts/pytorch/build.sh`.

pub mod progress;
pub mod source;
pub mod toolchain;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::cache::{self, ContentKey};
use crate::flags;
use crate::manifest::Manifest;
use crate::project::Project;
use crate::run::Request;

pub fn run(project: &Project, flags: &flags::Pytorch) -> Result<i32> {
    match &flags.command {
        flags::PytorchCommand::Build(b) => build(project, b),
    }
}

fn build(project: &Project, flags: &flags::PytorchBuild) -> Result<i32> {
    let sh = &project.sh;
    let image_dir = project.images_dir().join(&flags.image);
    let manifest = Manifest::read(&image_dir).with_context(|| {
        format!(
            "image `{0}` is not built; build it with `cargo xtask image {0}`",
            flags.image
        )
    })?;
    let debian = manifest.debian.clone().context(
        "`pytorch build` needs a Debian image (Buildroot images have no native compiler)",
    )?;

    let source = resolve_source(sh, &flags.source, &debian)?;
    let disk = build_disk(project, &source, flags.fresh)?;
    let log = project.logs_dir().join("pytorch-build.log");
    std::fs::create_dir_all(project.logs_dir())
        .with_context(|| format!("creating {}", project.logs_dir().display()))?;
    eprintln!("source {}; build disk {}", source.display(), disk.display());

    // Offload: the newest g++ the host's cross compiler matches exactly.
    let majors = toolchain::guest_gcc_majors(&manifest.packages);
    if majors.is_empty() {
        bail!(
            "image `{}` has no g++-N; use an image with the pytorch-build package set",
            flags.image
        );
    }
    let mut gcc_major = flags.gcc.unwrap_or(majors[0]);
    let mut distccd = None;
    if !flags.no_offload {
        let toolchain_log = project.logs_dir().join("pytorch-toolchain.log");
        let root = toolchain::ensure_root(
            sh,
            &cache::cache_dir()?,
            &debian,
            &majors,
            flags.refresh_toolchain,
            &toolchain_log,
        )?;
        let pairings = toolchain::pairings(&manifest.packages, &toolchain::root_packages(&root)?);
        for p in &pairings {
            eprintln!("offload: {}", p.describe());
        }
        let wanted = match flags.gcc {
            Some(m) => pairings.iter().find(|p| p.major == m && p.exact()),
            None => toolchain::choose(&pairings),
        };
        match wanted {
            Some(p) => {
                gcc_major = p.major;
                let port = crate::ssh::free_port()?;
                let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
                distccd = Some(toolchain::Distccd::start(sh, &root, port, jobs, &project.logs_dir().join("pytorch-distccd.log"))?);
                eprintln!("offload: distccd on 127.0.0.1:{port} (the guest's 10.0.2.2:{port}), g++-{gcc_major}");
            }
            None => eprintln!(
                "offload: no exactly matching cross compiler{}; compiling in the guest (pass --no-offload to silence this)",
                flags.gcc.map(|m| format!(" for g++-{m}")).unwrap_or_default()
            ),
        }
    }
    let jobs = match (&distccd, flags.jobs) {
        (_, Some(j)) => j,
        // Remote slots: the host's cores, plus one to keep the pipeline full.
        (Some(_), None) => {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                + 1
        }
        // cc1plus on PyTorch sources needs up to ~1.5 GiB each.
        (None, None) => {
            ((flags.memory.unwrap_or(manifest.run.memory_mib) / 1536) as usize).clamp(1, 8)
        }
    };

    let mut envs = vec![
        ("GCC_MAJOR".to_string(), gcc_major.to_string()),
        ("JOBS".into(), jobs.to_string()),
        (
            "OFFLOAD".into(),
            distccd
                .as_ref()
                .map(|d| format!("10.0.2.2:{}", d.port))
                .unwrap_or_default(),
        ),
        (
            "BUILD_TARGET".into(),
            flags.target.clone().unwrap_or_default(),
        ),
    ];
    if flags.clean {
        envs.push(("CLEAN".into(), "1".into()));
    }
    if flags.no_ccache {
        envs.push(("NO_CCACHE".into(), "1".into()));
    }
    envs.sort();
    let run = Request {
        image: Some(flags.image.clone()),
        command: vec!["sh".into(), "/mnt/scripts/pytorch/build.sh".into()],
        envs,
        smp: flags.smp,
        memory_mib: flags.memory,
        timeout: (flags.timeout > 0).then(|| Duration::from_secs(flags.timeout)),
        drives: vec![disk.clone()],
        ..Request::default()
    };
    let tracker = Arc::new(Mutex::new(progress::Tracker::new(&log)?));
    let sink = {
        let tracker = Arc::clone(&tracker);
        Box::new(move |bytes: &[u8]| {
            if let Ok(mut t) = tracker.lock() {
                t.feed(bytes);
            }
        })
    };
    let status = crate::run::run(project, &run, Some(sink))?;
    drop(distccd);
    if let Ok(mut t) = tracker.lock() {
        t.finish();
    }
    collect_wheels(project)?;
    if status != 0 {
        eprintln!("pytorch build: the guest build exited with status {status}; run the same command again to resume (log: {})", log.display());
    }
    Ok(status)
}

/// `--source`: a directory, a tarball, or `debian:PACKAGE` (default
/// `debian:pytorch`, Debian's signed source package of the image's suite).
fn resolve_source(
    sh: &xshell::Shell,
    source: &Option<String>,
    debian: &crate::manifest::DebianSource,
) -> Result<PathBuf> {
    let spec = source.clone().unwrap_or_else(|| "debian:pytorch".into());
    if let Some(package) = source::debian_package(&spec) {
        return source::fetch(sh, &cache::cache_dir()?, &debian.suite, &debian.mirror, package, debian.check_valid_until).with_context(|| {
            if package == "pytorch" {
                "Debian's pytorch source is the default; with a PyTorch checkout or tarball at hand, pass --source PATH".to_string()
            } else {
                format!("fetching the source of `{package}`")
            }
        });
    }
    let path = PathBuf::from(&spec);
    path.canonicalize().with_context(|| {
        format!("--source {spec}: no such file or directory (or use debian:PACKAGE)")
    })
}

/// The persistent build disk for `source`: made once (the tree copied in
/// natively with `mkfs.ext4 -d`), then reused by every run so builds resume.
fn build_disk(project: &Project, source: &Path, fresh: bool) -> Result<PathBuf> {
    let sh = &project.sh;
    let mut key = ContentKey::new("pytorch-build-disk-v1");
    key.add("source", source.as_os_str().as_encoded_bytes());
    let dir = cache::cache_dir()?.join("pytorch").join(&key.hex()[..16]);
    let disk = dir.join("build.ext4");
    if disk.is_file() && !fresh {
        return Ok(disk);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&dir)
        .context("creating a staging dir")?;
    let src = staging.path().join("src");
    std::fs::create_dir(&src).with_context(|| format!("creating {}", src.display()))?;
    if source.is_dir() {
        cmd!(sh, "cp -a {source}/. {src}/")
            .quiet()
            .run()
            .with_context(|| format!("copying {}", source.display()))?;
    } else {
        cmd!(sh, "tar -xf {source} -C {src} --strip-components=1")
            .quiet()
            .run()
            .with_context(|| format!("unpacking {}", source.display()))?;
    }
    let partial = dir.join("build.ext4.partial");
    let root = staging.path();
    // Sparse: 64 GiB of room for PyTorch's build tree and ccache, a few GiB used.
    cmd!(
        sh,
        "mkfs.ext4 -q -F -L acalsim-build -E root_owner=0:0 -d {root} {partial} 64G"
    )
    .quiet()
    .run()
    .with_context(|| format!("making the build disk {}", partial.display()))?;
    std::fs::rename(&partial, &disk)
        .with_context(|| format!("renaming {} to {}", partial.display(), disk.display()))?;
    Ok(disk)
}

/// Wheels the guest left in the work share go to target/xtask/wheels/.
fn collect_wheels(project: &Project) -> Result<()> {
    let from = project.xtask_dir().join("share/wheels");
    let Ok(entries) = std::fs::read_dir(&from) else {
        return Ok(());
    };
    let to = project.xtask_dir().join("wheels");
    std::fs::create_dir_all(&to).with_context(|| format!("creating {}", to.display()))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "whl") {
            let dest = to.join(entry.file_name());
            std::fs::rename(&path, &dest)
                .with_context(|| format!("moving {} to {}", path.display(), dest.display()))?;
            eprintln!("wheel: {}", dest.display());
        }
    }
    Ok(())
}
