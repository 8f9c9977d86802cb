//! `cargo xtask image <buildroot image>`: verified source, the committed
//! defconfig through real Kconfig (refused if anything is dropped), every
//! download present or reachable before hours of building start, then
//! Buildroot out of tree with its downloads and ccache in the user cache, and
//! the same `manifest.json` + `run.sh` contract as Debian images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use xshell::cmd;

use crate::buildroot::{check, config::Buildroot, defconfig, defconfig_path, external_dir, source};
use crate::cache::{self, ContentKey};
use crate::config::Image;
use crate::manifest::{self, Artifact, BuildInfo, BuildrootSource, Manifest, Package, StepTime};
use crate::progress::{human_duration, Steps};
use crate::project::Project;

/// Bump when the build's output changes for the same inputs.
const BUILD_FORMAT: &str = "acalsim-buildroot-image-v1";
/// Where Buildroot's downloads go unless BR2_DL_DIR says otherwise.
pub fn dl_dir() -> Result<PathBuf> {
    match std::env::var_os("BR2_DL_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(cache::cache_dir()?.join("buildroot/dl")),
    }
}

/// Key over everything that shapes a Buildroot image.
pub fn image_key(project: &Project, image: &Image) -> Result<String> {
    let mut key = ContentKey::new(BUILD_FORMAT);
    key.add("image", image.key_input()?.as_bytes());
    for dir in ["buildroot-external", "guest-scripts/runner", "qemu"] {
        key.add_dir(&project.root.join(dir))?;
    }
    Ok(key.hex())
}

pub struct Options {
    /// Never download: fail unless every source is already in the dl dir.
    pub offline: bool,
}

pub fn build(
    project: &Project,
    image: &Image,
    br: &Buildroot,
    key: &str,
    options: &Options,
) -> Result<()> {
    let sh = &project.sh;
    let started = Instant::now();
    let defconfig_file = defconfig_path(project, br);
    let wanted = defconfig::render(image, br);
    if std::fs::read_to_string(&defconfig_file).ok().as_deref() != Some(wanted.as_str()) {
        bail!(
            "{} is missing or differs from acalsim.toml; run `cargo xtask buildroot defconfig`",
            defconfig_file.display()
        );
    }
    let out = project.xtask_dir().join("buildroot").join(&image.name);
    let staged = project.build_dir(&image.name);
    if staged.exists() {
        std::fs::remove_dir_all(&staged)
            .with_context(|| format!("removing {}", staged.display()))?;
    }
    std::fs::create_dir_all(&staged).with_context(|| format!("creating {}", staged.display()))?;
    let dl = dl_dir()?;
    let ccache = cache::cache_dir()?.join("buildroot/ccache");
    let external = external_dir(project);

    let log = project.logs_dir().join(format!("image-{}.log", image.name));
    let mut steps = Steps::new(5, log, project.verbose)?;
    eprintln!(
        "building image `{}` (Buildroot {}, {} packages asked)",
        image.name,
        br.version,
        br.packages.len()
    );

    let tree = steps.step("Buildroot source", |step| {
        let tree = source::tree(sh, br)?;
        step.say(&tree.verified);
        Ok(tree)
    })?;
    let info = steps.step("configure with Kconfig and check every symbol", |step| {
        let report = check::run(sh, &tree.path, Some(&external), &out, &defconfig_file)?;
        step.say(report.render(&defconfig_file.display().to_string()).trim_end());
        if report.problems() > 0 {
            bail!(
                "Kconfig of Buildroot {} did not keep the defconfig:\n{}run `cargo xtask buildroot check {}` for details",
                br.version,
                report.render(&defconfig_file.display().to_string()),
                image.name
            );
        }
        check::show_info(sh, &tree.path, &out)
    })?;
    steps.step("downloads present or reachable", |step| {
        let missing = missing_downloads(&info, |dir, file| dl.join(dir).join(file).is_file());
        step.say(&format!(
            "{} of {} source files already in {}",
            count_downloads(&info) - missing.len(),
            count_downloads(&info),
            dl.display()
        ));
        if missing.is_empty() {
            return Ok(());
        }
        let reachable = !options.offline && reachable("sources.buildroot.net", 443);
        if !reachable {
            bail!("{}", offline_message(&missing, &dl, options.offline));
        }
        Ok(())
    })?;
    steps.step(
        "make (hours on the first build; ccache and downloads are reused)",
        |step| {
            let tree = &tree.path;
            let jobs = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .to_string();
            step.run_milestones(
                cmd!(sh, "make -C {tree} O={out} BR2_JLEVEL={jobs}")
                    .env("BR2_DL_DIR", &dl)
                    .env("BR2_CCACHE_DIR", &ccache),
                milestone,
            )
        },
    )?;
    let built = out.join("images");
    let timings = steps.timings.clone();
    steps.step("manifest, run.sh and install", |step| {
        step.say("collecting images");
        let m = collect(
            project,
            image,
            br,
            key,
            &built,
            &staged,
            &info,
            &tree.verified,
            &wanted,
            &timings,
            started,
        )?;
        crate::output::finish(project, &m, &staged)
    })?;
    eprintln!(
        "built image `{}` in {}",
        image.name,
        human_duration(started.elapsed().as_secs_f64())
    );
    Ok(())
}

/// Copies Buildroot's images into the staged image dir and describes them.
#[allow(clippy::too_many_arguments)]
fn collect(
    project: &Project,
    image: &Image,
    br: &Buildroot,
    key: &str,
    built: &Path,
    staged: &Path,
    info: &BTreeMap<String, Value>,
    verified: &str,
    defconfig_text: &str,
    timings: &[(String, f64)],
    started: Instant,
) -> Result<Manifest> {
    let sh = &project.sh;
    let copy = |from: &str, to: &str| -> Result<Artifact> {
        let src = built.join(from);
        let dest = staged.join(to);
        std::fs::copy(&src, &dest)
            .with_context(|| format!("copying {} (did Buildroot build it?)", src.display()))?;
        let sha256 = cache::sha256_file(&dest)?;
        let size = std::fs::metadata(&dest)
            .with_context(|| format!("reading {}", dest.display()))?
            .len();
        Ok(Artifact {
            path: to.into(),
            sha256,
            size,
        })
    };
    let kernel = copy("Image", "Image")?;
    let firmware = if br.opensbi {
        Some(copy("fw_jump.elf", "fw_jump.elf")?)
    } else {
        None
    };
    let mut rootfs = BTreeMap::new();
    if image.formats.iter().any(|f| f == "initramfs") {
        rootfs.insert(
            "initramfs".to_string(),
            copy("rootfs.cpio.gz", "rootfs.cpio.gz")?,
        );
    }
    if image.formats.iter().any(|f| f == "ext4" || f == "qcow2") {
        rootfs.insert("ext4".to_string(), copy("rootfs.ext2", "rootfs.ext4")?);
    }
    if image.formats.iter().any(|f| f == "qcow2") {
        let (ext4, qcow2) = (staged.join("rootfs.ext4"), staged.join("rootfs.qcow2"));
        cmd!(
            sh,
            "qemu-img convert -f raw -O qcow2 -c -o compression_type=zstd {ext4} {qcow2}"
        )
        .quiet()
        .run()?;
        let sha256 = cache::sha256_file(&qcow2)?;
        let size = std::fs::metadata(&qcow2)
            .with_context(|| format!("reading {}", qcow2.display()))?
            .len();
        rootfs.insert(
            "qcow2".to_string(),
            Artifact {
                path: "rootfs.qcow2".into(),
                sha256,
                size,
            },
        );
    }
    let kernel_version = info
        .get("linux")
        .and_then(|l| l["version"].as_str())
        .unwrap_or(&br.kernel_version)
        .to_string();
    Ok(Manifest {
        schema: manifest::SCHEMA,
        name: image.name.clone(),
        flavour: "buildroot".into(),
        arch: "riscv64".into(),
        description: image.description.clone(),
        config_hash: key.to_string(),
        created: cmd!(sh, "date -u +%Y-%m-%dT%H:%M:%SZ")
            .quiet()
            .read()
            .unwrap_or_default(),
        kernel,
        initrd: None,
        firmware,
        rootfs,
        cmdline: cmdlines(),
        kernel_version,
        run: image.run.clone(),
        debian: None,
        buildroot: Some(BuildrootSource {
            version: br.version.clone(),
            source: verified.to_string(),
            defconfig_sha256: sha256_hex(defconfig_text.as_bytes()),
        }),
        packages: packages(info),
        tools: BTreeMap::new(),
        build: BuildInfo {
            total_secs: started.elapsed().as_secs_f64(),
            steps: timings
                .iter()
                .map(|(s, t)| StepTime {
                    step: s.clone(),
                    secs: *t,
                })
                .collect(),
            base_layer_cached: false,
            rootfs_used_bytes: 0,
        },
    })
}

/// Kernel command lines: the drivers are built in, so no initrd before the disk.
pub fn cmdlines() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "disk".to_string(),
            "root=/dev/vda rw rootwait console=ttyS0 panic=-1".to_string(),
        ),
        (
            "initramfs".to_string(),
            "rdinit=/init console=ttyS0 panic=-1".to_string(),
        ),
    ])
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

/// One source file Buildroot will need and does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub package: String,
    pub dl_dir: String,
    pub file: String,
    /// Where Buildroot would fetch it, first choice first.
    pub urls: Vec<String>,
}

fn count_downloads(info: &BTreeMap<String, Value>) -> usize {
    info.values()
        .map(|v| v["downloads"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Every download of `show-info` for which `present(dl_dir, file)` is false.
pub fn missing_downloads(
    info: &BTreeMap<String, Value>,
    present: impl Fn(&str, &str) -> bool,
) -> Vec<Missing> {
    let mut missing = Vec::new();
    for (package, v) in info {
        let dl_dir = v["dl_dir"].as_str().unwrap_or(package);
        for d in v["downloads"].as_array().into_iter().flatten() {
            let Some(file) = d["source"].as_str() else {
                continue;
            };
            if present(dl_dir, file)
                || missing
                    .iter()
                    .any(|m: &Missing| m.dl_dir == dl_dir && m.file == file)
            {
                continue;
            }
            let urls = d["uris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .map(|u| format!("{}/{file}", plain_url(u).trim_end_matches('/')))
                .collect();
            missing.push(Missing {
                package: package.clone(),
                dl_dir: dl_dir.into(),
                file: file.into(),
                urls,
            });
        }
    }
    missing
}

/// `https|urlencode+https://host/path` -> `https://host/path`.
fn plain_url(uri: &str) -> &str {
    uri.split_once('+').map_or(uri, |(_, url)| url)
}

fn offline_message(missing: &[Missing], dl: &Path, forced: bool) -> String {
    let why = if forced {
        "--offline was given"
    } else {
        "sources.buildroot.net is not reachable from here"
    };
    let mut msg = format!(
        "{} source file(s) Buildroot needs are not in {} and {why}, so the build would fail after hours. Missing:\n",
        missing.len(),
        dl.display()
    );
    // All of them: an offline user has to fetch each one elsewhere.
    for m in missing {
        msg.push_str(&format!(
            "  {}/{}  ({})\n",
            m.dl_dir,
            m.file,
            m.urls.first().map_or("no URL", String::as_str)
        ));
    }
    msg.push_str(&format!(
        "Offline: copy them into {}/<dir>/<file> as listed (on a machine with internet, `make source` with the \
         same Buildroot and defconfig fills a dl directory; BR2_DL_DIR selects another one).",
        dl.display()
    ));
    msg
}

fn reachable(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)).is_ok())
}

/// Buildroot announces each package step as `>>> pkg version Step`.
pub fn milestone(line: &str) -> Option<String> {
    let rest = line.strip_prefix(">>> ")?;
    Some(rest.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BTreeMap<String, Value> {
        serde_json::from_str(
            r#"{
            "python-numpy": {"type": "target", "virtual": false, "version": "1.25.0", "dl_dir": "python-numpy",
                "downloads": [{"source": "numpy-1.25.0.tar.gz", "uris": ["https+https://github.com/numpy/numpy/releases/download/v1.25.0", "https|urlencode+https://sources.buildroot.net/python-numpy"]}]},
            "host-gcc-final": {"type": "host", "virtual": false, "version": "12.4.0", "dl_dir": "gcc",
                "downloads": [{"source": "gcc-12.4.0.tar.xz", "uris": ["https+https://ftp.gnu.org/gnu/gcc/gcc-12.4.0"]}]},
            "host-gcc-initial": {"type": "host", "virtual": false, "version": "12.4.0", "dl_dir": "gcc",
                "downloads": [{"source": "gcc-12.4.0.tar.xz", "uris": ["https+https://ftp.gnu.org/gnu/gcc/gcc-12.4.0"]}]},
            "toolchain-buildroot": {"type": "target", "virtual": true, "version": null, "downloads": []},
            "linux": {"type": "target", "virtual": false, "version": "6.1.44", "dl_dir": "linux",
                "downloads": [{"source": "linux-6.1.44.tar.xz", "uris": ["https+https://cdn.kernel.org/pub/linux/kernel/v6.x"]}]}
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn missing_downloads_are_listed_once_with_plain_urls() {
        let missing = missing_downloads(&info(), |dir, file| {
            dir == "linux" && file == "linux-6.1.44.tar.xz"
        });
        let files: Vec<&str> = missing.iter().map(|m| m.file.as_str()).collect();
        assert_eq!(
            files,
            ["gcc-12.4.0.tar.xz", "numpy-1.25.0.tar.gz"],
            "gcc once, linux present"
        );
        let numpy = &missing[1];
        assert_eq!(numpy.dl_dir, "python-numpy");
        assert_eq!(
            numpy.urls,
            [
                "https://github.com/numpy/numpy/releases/download/v1.25.0/numpy-1.25.0.tar.gz",
                "https://sources.buildroot.net/python-numpy/numpy-1.25.0.tar.gz"
            ]
        );
        let msg = offline_message(&missing, Path::new("/cache/dl"), true);
        assert!(
            msg.contains("2 source file(s)") && msg.contains("--offline"),
            "{msg}"
        );
        assert!(
            msg.contains("  python-numpy/numpy-1.25.0.tar.gz  (https://github.com/"),
            "{msg}"
        );
        assert!(msg.contains("/cache/dl/<dir>/<file>"), "{msg}");
    }

    #[test]
    fn packages_are_the_real_target_packages() {
        let p = packages(&info());
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["linux", "python-numpy"]);
        assert_eq!(p[1].version, "1.25.0");
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
