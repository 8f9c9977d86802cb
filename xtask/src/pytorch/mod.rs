//! `cargo xtask pytorch build`: compile PyTorch (or any CMake project) inside
//! the RISC-V guest, resumably, with ccache, and with the compiles offloaded
//! to the host's cross compiler through distcc.
//!
//! The source tree, the build directory and the ccache live on a persistent
//! build disk in the user cache (`--drive` to the guest), so an interrupted
//! build continues where it stopped. The guest half is
//! `guest-scripts/pytorch/build.sh`.

mod distccd;
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
use crate::manifest::{DebianSource, Manifest};
use crate::progress::CommandLog;
use crate::project::Project;
use crate::run::{Request, StdoutSink};

pub fn run(project: &Project, flags: &flags::Pytorch) -> Result<i32> {
    match &flags.command {
        flags::PytorchCommand::Build(b) => build(project, b),
    }
}

fn build(project: &Project, flags: &flags::PytorchBuild) -> Result<i32> {
    let (manifest, debian) = read_image(project, &flags.image)?;
    // Host-side commands (source fetch, build disk); the guest's go to `log`.
    let host_log = CommandLog::append_to(
        &project.logs_dir().join("pytorch-host.log"),
        project.verbose,
    )?;
    let source = resolve_source(&project.sh, &host_log, &flags.source, &debian)?;
    let (disk, _one_build_at_a_time) = build_disk(project, &host_log, &source, flags.fresh)?;
    let log = project.logs_dir().join("pytorch-build.log");
    std::fs::create_dir_all(project.logs_dir())
        .with_context(|| format!("creating {}", project.logs_dir().display()))?;
    eprintln!("source {}; build disk {}", source.display(), disk.display());

    let majors = toolchain::guest_gcc_majors(&manifest.packages);
    if majors.is_empty() {
        bail!(
            "image `{}` has no g++-N; use an image with the pytorch-build package set",
            flags.image
        );
    }
    let offload = if flags.no_offload {
        None
    } else {
        start_offload(project, flags, &manifest, &debian, &majors)?
    };
    let gcc_major = match &offload {
        Some(o) => o.gcc_major,
        None => flags.gcc.unwrap_or(majors[0]),
    };
    let jobs = parallel_jobs(
        flags.jobs,
        offload.is_some(),
        flags.memory.unwrap_or(manifest.run.memory_mib),
    );
    let request = Request {
        image: Some(flags.image.clone()),
        command: vec!["sh".into(), "/mnt/scripts/pytorch/build.sh".into()],
        envs: build_envs(
            flags,
            gcc_major,
            jobs,
            offload.as_ref().map(|o| o.distccd.port),
        ),
        smp: flags.smp,
        memory_mib: flags.memory,
        timeout: (flags.timeout > 0).then(|| Duration::from_secs(flags.timeout)),
        drives: vec![disk],
        ..Request::default()
    };

    let tracker = Arc::new(Mutex::new(progress::Tracker::new(&log)?));
    let status = crate::run::run(project, &request, Some(progress_sink(&tracker)))?;
    drop(offload);
    if let Ok(mut t) = tracker.lock() {
        t.finish();
    }
    collect_wheels(project)?;
    if status != 0 {
        eprintln!("pytorch build: the guest build exited with status {status}; run the same command again to resume (log: {})", log.display());
    }
    Ok(status)
}

/// The build image's manifest and its Debian source (for the toolchain and
/// `debian:` sources).
fn read_image(project: &Project, image: &str) -> Result<(Manifest, DebianSource)> {
    let image_dir = project.images_dir().join(image);
    let manifest = Manifest::read_built(&image_dir, image)?;
    let debian = manifest.debian.clone().context(
        "`pytorch build` needs a Debian image (Buildroot images have no native compiler)",
    )?;
    Ok((manifest, debian))
}

/// Compiles offloaded to the host: distccd serving the cross compiler of
/// `gcc_major`, until dropped.
struct Offload {
    gcc_major: u32,
    distccd: distccd::Distccd,
}

/// The newest g++ (or `--gcc N`) the host's cross compiler matches exactly,
/// served by distccd; `None` (the guest compiles) when there is no such match.
fn start_offload(
    project: &Project,
    flags: &flags::PytorchBuild,
    manifest: &Manifest,
    debian: &DebianSource,
    majors: &[u32],
) -> Result<Option<Offload>> {
    let sh = &project.sh;
    let toolchain_log = project.logs_dir().join("pytorch-toolchain.log");
    let root = toolchain::ensure_root(
        sh,
        &cache::cache_dir()?,
        debian,
        majors,
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
    let Some(p) = wanted else {
        eprintln!(
            "offload: no exactly matching cross compiler{}; compiling in the guest (pass --no-offload to silence this)",
            flags.gcc.map(|m| format!(" for g++-{m}")).unwrap_or_default()
        );
        return Ok(None);
    };
    let gcc_major = p.major;
    let port = crate::ssh::free_port()?;
    let jobs = host_cores();
    let distccd_log = project.logs_dir().join("pytorch-distccd.log");
    let distccd = distccd::Distccd::start(sh, &root, port, jobs, &distccd_log)?;
    eprintln!(
        "offload: distccd on 127.0.0.1:{port} (the guest's 10.0.2.2:{port}), g++-{gcc_major}"
    );
    Ok(Some(Offload { gcc_major, distccd }))
}

fn host_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// `--jobs`, else what keeps the compilers busy without running out of memory.
fn parallel_jobs(jobs: Option<usize>, offloaded: bool, guest_memory_mib: u64) -> usize {
    match (jobs, offloaded) {
        (Some(j), _) => j,
        // Remote slots: the host's cores, plus one to keep the pipeline full.
        (None, true) => host_cores() + 1,
        // cc1plus on PyTorch sources needs up to ~1.5 GiB each.
        (None, false) => ((guest_memory_mib / 1536) as usize).clamp(1, 8),
    }
}

/// The environment `guest-scripts/pytorch/build.sh` reads, sorted.
fn build_envs(
    flags: &flags::PytorchBuild,
    gcc_major: u32,
    jobs: usize,
    distccd_port: Option<u16>,
) -> Vec<(String, String)> {
    let mut envs = vec![
        ("GCC_MAJOR".to_string(), gcc_major.to_string()),
        ("JOBS".into(), jobs.to_string()),
        (
            "OFFLOAD".into(),
            distccd_port
                .map(|port| format!("10.0.2.2:{port}"))
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
    envs
}

/// The guest build's stdout, fed to the progress tracker (ninja's [n/N]).
fn progress_sink(tracker: &Arc<Mutex<progress::Tracker>>) -> StdoutSink {
    let tracker = Arc::clone(tracker);
    Box::new(move |bytes: &[u8]| {
        if let Ok(mut t) = tracker.lock() {
            t.feed(bytes);
        }
    })
}

/// `--source`: a directory, a tarball, or `debian:PACKAGE` (default
/// `debian:pytorch`, Debian's signed source package of the image's suite).
fn resolve_source(
    sh: &xshell::Shell,
    log: &CommandLog,
    source: &Option<String>,
    debian: &DebianSource,
) -> Result<PathBuf> {
    let spec = source.clone().unwrap_or_else(|| "debian:pytorch".into());
    if let Some(package) = source::debian_package(&spec) {
        return source::fetch(sh, log, &cache::cache_dir()?, &debian.suite, &debian.mirror, package, debian.check_valid_until).with_context(|| {
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
/// A guest mounts it read-write: one build at a time, with the lock held
/// until the build ends (another is refused at once, naming its holder).
fn build_disk(
    project: &Project,
    log: &CommandLog,
    source: &Path,
    fresh: bool,
) -> Result<(PathBuf, crate::lock::Lock)> {
    let sh = &project.sh;
    let mut key = ContentKey::new("pytorch-build-disk-v1");
    key.add("source", source.as_os_str().as_encoded_bytes());
    let dir = cache::cache_dir()?.join("pytorch").join(&key.hex()[..16]);
    let disk = dir.join("build.ext4");
    let held = match crate::lock::try_lock(&dir.join("build.lock"), crate::lock::Mode::Exclusive)? {
        Ok(held) => held,
        Err(busy) => bail!(
            "the build disk of {} is in use ({busy}): one `pytorch build` of a source at a time; wait for that one to end",
            source.display()
        ),
    };
    if disk.is_file() && !fresh {
        return Ok((disk, held));
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(&dir)
        .context("creating a staging dir")?;
    let src = staging.path().join("src");
    std::fs::create_dir(&src).with_context(|| format!("creating {}", src.display()))?;
    if source.is_dir() {
        log.run(cmd!(sh, "cp -a {source}/. {src}/"))
            .with_context(|| format!("copying {}", source.display()))?;
    } else {
        log.run(cmd!(sh, "tar -xf {source} -C {src} --strip-components=1"))
            .with_context(|| format!("unpacking {}", source.display()))?;
    }
    let partial = dir.join("build.ext4.partial");
    let root = staging.path();
    // Sparse: 64 GiB of room for PyTorch's build tree and ccache, a few GiB used.
    log.run(cmd!(
        sh,
        "mkfs.ext4 -q -F -L acalsim-build -E root_owner=0:0 -d {root} {partial} 64G"
    ))
    .with_context(|| format!("making the build disk {}", partial.display()))?;
    std::fs::rename(&partial, &disk)
        .with_context(|| format!("renaming {} to {}", partial.display(), disk.display()))?;
    Ok((disk, held))
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn build_flags(args: &[&str]) -> flags::PytorchBuild {
        let cli =
            flags::Xtask::try_parse_from(["cargo xtask", "pytorch", "build"].iter().chain(args))
                .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        match cli.command {
            flags::Command::Pytorch(flags::Pytorch {
                command: flags::PytorchCommand::Build(b),
            }) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn build_sh_gets_the_compiler_jobs_offload_and_switches_sorted() {
        let flags = build_flags(&["--target", "c10", "--clean", "--no-ccache"]);
        let envs = build_envs(&flags, 15, 3, Some(36337));
        let pairs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("BUILD_TARGET", "c10"),
                ("CLEAN", "1"),
                ("GCC_MAJOR", "15"),
                ("JOBS", "3"),
                ("NO_CCACHE", "1"),
                ("OFFLOAD", "10.0.2.2:36337"),
            ]
        );
        let envs = build_envs(&build_flags(&[]), 14, 1, None);
        assert!(
            envs.contains(&("OFFLOAD".into(), String::new())),
            "{envs:?}"
        );
        assert!(
            envs.contains(&("BUILD_TARGET".into(), String::new())),
            "{envs:?}"
        );
    }

    #[test]
    fn jobs_follow_the_flag_the_host_cores_or_the_guest_memory() {
        assert_eq!(parallel_jobs(Some(5), true, 4096), 5);
        assert_eq!(parallel_jobs(None, true, 4096), host_cores() + 1);
        assert_eq!(parallel_jobs(None, false, 6144), 4);
        assert_eq!(parallel_jobs(None, false, 1024), 1);
        assert_eq!(parallel_jobs(None, false, 64 << 10), 8);
    }
}
