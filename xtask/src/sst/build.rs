//! `cargo xtask sst build`: SST-core and ACALSim's SST component, for users
//! who have their sources (no network needed), cached like the QEMU build.
//!
//! [`build`] reads as its stages: locate the sources, compute the two cache
//! keys (SST-core's install; the element library built against it), and
//! build only what is missing: SST-core (`autogen.sh`, `configure
//! --disable-mpi`, `make`, `make install` into a temporary root renamed into
//! the cache), then only `acalsim-device/ACALSimVirtIODeviceComponent.cc` as
//! `libacalsim.so` (ACALSim's Makefile also pulls in framework sources the
//! component does not use), checked with `sst-info` before it is recorded.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use super::record::{self, Built, LIBRARY};
use super::source::{self, CoreSource};
use crate::acalsim::{self, Acalsim};
use crate::cache::{self, ContentKey};
use crate::flags;
use crate::progress::{CommandLog, Steps};
use crate::project::Project;

/// Bump when the build's layout or steps change without any input changing.
const BUILD_FORMAT: &str = "1";
/// Debian's python3-config: SST embeds the system Python (a pyenv or venv
/// python3-config earlier on PATH would link SST against that one).
pub const PYTHON_CONFIG: &str = "/usr/bin/python3-config";
/// The component's files in ACALSim's `acalsim-device/`; the `.cc` also
/// includes `../virtio-device/sst-protocol.h`.
const COMPONENT: &str = "ACALSimVirtIODeviceComponent.cc";
const COMPONENT_HEADER: &str = "ACALSimVirtIODeviceComponent.hh";
/// The component `linux_basic.py` instantiates as `acalsim.VirtIODevice`.
pub const DEVICE_COMPONENT: &str = "VirtIODevice";

/// `configure`'s arguments: no MPI (one rank is all a co-simulation with
/// one QEMU needs), Debian's Python, no ncurses (only `sst-info -i` uses
/// it), and -O2 without -g (the install is a third of the size).
pub fn configure_args(prefix: &Path) -> Vec<String> {
    vec![
        format!("--prefix={}", prefix.display()),
        "--disable-mpi".into(),
        format!("--with-python={PYTHON_CONFIG}"),
        "--without-ncurses".into(),
        "CXXFLAGS=-O2".into(),
        "CFLAGS=-O2".into(),
    ]
}

pub fn run(project: &Project, command: &flags::SstBuild) -> Result<()> {
    let built = build(project, command)?;
    eprintln!(
        "sst: {} ({}), element library acalsim in {}",
        built.bin_dir().join("sst").display(),
        built.version,
        built.elements.display()
    );
    Ok(())
}

/// Builds (or finds cached) SST-core and the component, and records them as
/// this checkout's SST.
pub fn build(project: &Project, opts: &flags::SstBuild) -> Result<Built> {
    let started = Instant::now();
    let config = project.config()?;
    let sh = &project.sh;
    let acalsim = acalsim::locate(sh, &project.root, config.qemu.acalsim.as_deref())?;
    let core = source::locate(sh, &project.root, config.cosim.sst_core.as_deref())?;
    let cache = cache::cache_dir()?.join("sst");
    cache::remove_leftovers(&cache)?;
    let log_path = project.logs_dir().join("sst-build.log");
    let log = CommandLog::append_to(&log_path, project.verbose)?;
    let inputs = Inputs::gather(sh, &log, &acalsim)?;
    let core_key = inputs.core_key(&core.identity);
    let element_key = inputs.element_key(&core_key);
    let core_prefix = cache.join(format!("core-{}", &core_key[..16]));
    let element_dir = cache.join(format!("element-{}", &element_key[..16]));
    // Another checkout building the same units: wait, then find them built.
    let _building_element = cache::lock_unit(&cache, &format!("element-{}", &element_key[..16]))?;
    let _building_core = cache::lock_unit(&cache, &format!("core-{}", &core_key[..16]))?;
    if !opts.rebuild {
        if let Some(built) = cached(project, &element_dir, &element_key)? {
            eprintln!("sst: up to date (key {})", &element_key[..16]);
            return Ok(built);
        }
    }
    let core_missing = opts.rebuild || !core_prefix.join("bin/sst").is_file();
    let mut steps = Steps::new(
        if core_missing { 6 } else { 1 },
        log_path.clone(),
        project.verbose,
    )?;
    if core_missing {
        build_core(&mut steps, project, &core, &cache, &core_prefix, opts)?;
    }
    let built = steps.step("element library: ACALSim's VirtIODevice component", |s| {
        let compiled = build_element(s, sh, &core_prefix, &acalsim, &element_dir)?;
        Ok(Built {
            prefix: core_prefix.clone(),
            elements: element_dir.clone(),
            version: compiled.version,
            core_key: core_key.clone(),
            element_key: element_key.clone(),
            core_source: core.origin.clone(),
            core_identity: core.identity.clone(),
            acalsim: acalsim.origin.clone(),
            component_sha256: inputs.component.clone(),
            components: compiled.components,
            built_at: crate::output::utc_now(sh),
            build_secs: started.elapsed().as_secs_f64(),
        })
    })?;
    cache::write_json(&element_dir.join(record::BUILD_JSON), &built)?;
    cache::write_json(&record::pointer(project), &built)?;
    eprintln!(
        "sst: built in {} (steps timed in {})",
        crate::progress::human_duration(started.elapsed().as_secs_f64()),
        log_path.display()
    );
    Ok(built)
}

/// The cached element library under `key`, recorded as this checkout's SST.
fn cached(project: &Project, element_dir: &Path, key: &str) -> Result<Option<Built>> {
    let Some(built): Option<Built> =
        cache::read_json_if_present(&element_dir.join(record::BUILD_JSON))?
    else {
        return Ok(None);
    };
    let whole = built.element_key == key
        && built.bin_dir().join("sst").is_file()
        && built.elements.join(LIBRARY).is_file();
    if !whole {
        return Ok(None);
    }
    cache::write_json(&record::pointer(project), &built)?;
    Ok(Some(built))
}

/// SST-core from source into `prefix`: unpacked and configured in a work
/// tree, installed under a temporary root and renamed into place whole.
fn build_core(
    steps: &mut Steps,
    project: &Project,
    core: &CoreSource,
    cache: &Path,
    prefix: &Path,
    opts: &flags::SstBuild,
) -> Result<()> {
    let sh = &project.sh;
    let name = prefix
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let work = cache.join(format!("work-{name}"));
    let src = work.join("src");
    crate::output::remove_dir(&work)?;
    let version = steps.step("source: unpack SST-core", |s| {
        source::unpack(sh, s, core, &src)?;
        let ac = std::fs::read_to_string(src.join("configure.ac"))
            .with_context(|| format!("reading {}", src.join("configure.ac").display()))?;
        let v = source::version(&ac).unwrap_or_else(|| "unknown".into());
        s.say(&format!("SST-core {v} from {}", core.origin));
        Ok(v)
    })?;
    steps.step("autogen.sh (autoconf, automake, libtool)", |s| {
        let _dir = sh.push_dir(&src);
        s.run(cmd!(sh, "./autogen.sh"))
            .context("SST-core's autogen.sh failed (`cargo xtask doctor --fix` installs autoconf, automake and libtool)")
    })?;
    steps.step(&format!("configure SST-core {version} (--disable-mpi)"), |s| {
        let _dir = sh.push_dir(&src);
        let args = configure_args(prefix);
        s.run(cmd!(sh, "./configure {args...}"))
            .context("configuring SST-core (`cargo xtask doctor --fix` installs python3-dev and zlib1g-dev)")
    })?;
    steps.step("compile SST-core (many minutes)", |s| {
        let jobs = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .to_string();
        COMPILED.store(0, Ordering::Relaxed);
        s.run_milestones(cmd!(sh, "make -C {src} -j {jobs}"), make_milestone)
    })?;
    steps.step("install SST-core into the cache", |s| {
        let root = cache.join(format!("{name}.partial"));
        s.run(cmd!(sh, "make -C {src} install DESTDIR={root}"))?;
        let staged = staged_prefix(&root, prefix);
        crate::output::install(&staged, prefix)?;
        crate::output::remove_dir(&root)
    })?;
    if !opts.keep_work {
        crate::output::remove_dir(&work)?;
    }
    Ok(())
}

/// Where `make install DESTDIR=root` put the tree meant for `prefix`.
fn staged_prefix(root: &Path, prefix: &Path) -> PathBuf {
    root.join(prefix.strip_prefix("/").unwrap_or(prefix))
}

static COMPILED: AtomicUsize = AtomicUsize::new(0);

/// `make`'s `  CXX  foo.lo` lines → a line every 25 files; `Making all in
/// DIR` → the directory.
fn make_milestone(line: &str) -> Option<String> {
    let text = line.trim();
    if let Some(dir) = text.strip_prefix("Making all in ") {
        return Some(format!("make: {dir}"));
    }
    let word = text.split_whitespace().next()?;
    if word != "CXX" && word != "CC" {
        return None;
    }
    let n = COMPILED.fetch_add(1, Ordering::Relaxed) + 1;
    n.is_multiple_of(25).then(|| format!("compiled {n} files"))
}

struct Compiled {
    version: String,
    components: Vec<String>,
}

/// `libacalsim.so` from the one component file, with the flags the
/// installed `sst-config` gives elements, into `dest` (by rename), after
/// `sst-info acalsim` lists its VirtIODevice.
fn build_element(
    log: &CommandLog,
    sh: &Shell,
    prefix: &Path,
    acalsim: &Acalsim,
    dest: &Path,
) -> Result<Compiled> {
    let bin = prefix.join("bin");
    let config = bin.join("sst-config");
    let flag_words = |what: &str| -> Result<Vec<String>> {
        let out = log.read(cmd!(sh, "{config} {what}"))?;
        Ok(out.split_whitespace().map(str::to_string).collect())
    };
    let cxx = flag_words("--CXX")?;
    let (compiler, cxx_rest) = cxx
        .split_first()
        .context("sst-config --CXX printed nothing")?;
    let cxxflags = flag_words("--ELEMENT_CXXFLAGS")?;
    let ldflags = flag_words("--ELEMENT_LDFLAGS")?;
    let partial = dest.with_extension("partial");
    crate::output::remove_dir(&partial)?;
    std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let source = acalsim.component_dir().join(COMPONENT);
    let library = partial.join(LIBRARY);
    log.run(cmd!(
        sh,
        "{compiler} {cxx_rest...} {cxxflags...} -std=c++17 -Wall -Wextra -shared -fPIC -o {library} {source} {ldflags...}"
    ))
    .with_context(|| format!("compiling ACALSim's component {}", source.display()))?;
    let info = log
        .read(cmd!(sh, "{bin}/sst-info acalsim").env("SST_LIB_PATH", &partial))
        .context("sst-info could not load the built element library")?;
    let components = component_names(&info);
    if !components.iter().any(|c| c == DEVICE_COMPONENT) {
        bail!(
            "sst-info acalsim does not list {DEVICE_COMPONENT} (found: {}); see the build log",
            components.join(", ")
        );
    }
    let version = log.read(cmd!(sh, "{bin}/sst --version"))?;
    crate::output::install(&partial, dest)?;
    Ok(Compiled {
        version: version
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        components,
    })
}

/// The component names in `sst-info`'s listing (`Component 0: VirtIODevice`).
fn component_names(info: &str) -> Vec<String> {
    info.lines()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("Component ")?;
            let (index, name) = rest.split_once(':')?;
            index.trim().parse::<u32>().ok()?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Everything the two builds read besides SST-core's source.
struct Inputs {
    compiler: String,
    autotools: String,
    python: String,
    component: String,
}

impl Inputs {
    fn gather(sh: &Shell, log: &CommandLog, acalsim: &Acalsim) -> Result<Inputs> {
        let first = |s: String| s.lines().next().unwrap_or_default().to_string();
        let compiler = first(log.read(cmd!(sh, "c++ --version")).context(
            "a C++ compiler (`c++`) is needed: `cargo xtask doctor --fix` installs g++",
        )?);
        let mut autotools = Vec::new();
        for tool in ["autoconf", "automake", "libtoolize"] {
            autotools.push(first(log.read(cmd!(sh, "{tool} --version")).with_context(|| {
                format!("{tool} is needed to build SST-core: `cargo xtask doctor --fix` installs it")
            })?));
        }
        let python = log
            .read(cmd!(sh, "{PYTHON_CONFIG} --includes --ldflags --embed"))
            .with_context(|| format!("{PYTHON_CONFIG} is needed (SST embeds Python): `cargo xtask doctor --fix` installs python3-dev"))?;
        let mut component = ContentKey::new("acalsim-sst-component");
        let dir = acalsim.component_dir();
        for f in [COMPONENT, COMPONENT_HEADER] {
            component.add_file(f, &dir.join(f)).with_context(|| {
                format!("{}: ACALSim's SST component is missing {f}", acalsim.origin)
            })?;
        }
        component.add_file(
            "sst-protocol.h",
            &acalsim.device_dir().join("sst-protocol.h"),
        )?;
        Ok(Inputs {
            compiler,
            autotools: autotools.join("; "),
            python,
            component: component.hex(),
        })
    }

    fn core_key(&self, identity: &str) -> String {
        ContentKey::new("sst-core-build")
            .add("format", BUILD_FORMAT.as_bytes())
            .add("source", identity.as_bytes())
            .add(
                "configure",
                configure_args(Path::new("-")).join(" ").as_bytes(),
            )
            .add("compiler", self.compiler.as_bytes())
            .add("autotools", self.autotools.as_bytes())
            .add("python", self.python.as_bytes())
            .hex()
    }

    fn element_key(&self, core_key: &str) -> String {
        ContentKey::new("acalsim-element-build")
            .add("format", BUILD_FORMAT.as_bytes())
            .add("core", core_key.as_bytes())
            .add("component", self.component.as_bytes())
            .hex()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configure_disables_mpi_and_uses_debians_python() {
        let args = configure_args(Path::new("/c/sst/core-1"));
        assert_eq!(args[0], "--prefix=/c/sst/core-1");
        assert!(args.contains(&"--disable-mpi".to_string()));
        assert!(args.contains(&"--with-python=/usr/bin/python3-config".to_string()));
    }

    #[test]
    fn the_install_is_found_under_its_destdir() {
        assert_eq!(
            staged_prefix(
                Path::new("/c/sst/core-1.partial"),
                Path::new("/c/sst/core-1")
            ),
            PathBuf::from("/c/sst/core-1.partial/c/sst/core-1")
        );
    }

    #[test]
    fn component_names_are_read_from_sst_info() {
        let info = "PROCESSED 1 .so (SST ELEMENT) FILES FOUND IN DIRECTORY(s) /x\n\
                    ================================================================================\n\
                    ELEMENT LIBRARY 0 = acalsim ()\n   Num Components = 1\n\
                          Component 0: VirtIODevice\n\
                          CATEGORY: UNCATEGORIZED COMPONENT\n";
        assert_eq!(component_names(info), vec!["VirtIODevice".to_string()]);
        assert!(component_names("Component x: y\n").is_empty());
    }

    #[test]
    fn make_reports_directories_and_every_25th_file() {
        assert_eq!(
            make_milestone("Making all in src/sst").as_deref(),
            Some("make: src/sst")
        );
        assert_eq!(make_milestone("libtool: link: g++ -shared"), None);
    }
}
