//! Helpers for the end-to-end tests in `tests/tests/`: they run the real
//! `cargo xtask` binary (set by `cargo xtask test` in `ACALSIM_XTASK`) against
//! real mmdebstrap, e2fsprogs and QEMU, and look inside what it built.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Mutex, MutexGuard};

pub mod cosim;
pub mod slurm;
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate sits in the workspace")
        .to_path_buf()
}

/// The xtask binary under test.
pub fn xtask_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("ACALSIM_XTASK") {
        return PathBuf::from(path);
    }
    let built = root().join("target/debug/xtask");
    assert!(
        built.exists(),
        "no xtask binary: run the tests with `cargo xtask test` (or set ACALSIM_XTASK)"
    );
    built
}

/// Runs `cargo xtask ARGS` with the given config file, from the workspace root.
pub fn xtask(config: &Path, args: &[&str]) -> Output {
    xtask_env(config, args, &[], &[])
}

/// Builds image `name` of `config` (a no-op when it is up to date) and asserts success.
pub fn ensure_built(config: &Path, name: &str) {
    let out = xtask(config, &["image", name]);
    assert!(
        out.status.success(),
        "building {name} failed:\n{}",
        stderr(&out)
    );
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run folder a run's summary line names (`…; run folder: PATH`, the
/// last line of its stderr), as an absolute path.
pub fn run_folder(out: &Output) -> PathBuf {
    let err = stderr(out);
    let folder = err
        .lines()
        .rev()
        .find_map(|l| l.split_once("; run folder: ").map(|(_, f)| f.trim()))
        .unwrap_or_else(|| panic!("no `run folder:` in the run's summary line:\n{err}"));
    root().join(folder)
}

/// `run.json` in a run folder.
pub fn run_record(folder: &Path) -> serde_json::Value {
    let path = folder.join("run.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("run.json is JSON")
}

/// Image builds use the whole machine and one cache: one at a time.
pub fn build_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn image_dir(name: &str) -> PathBuf {
    root().join("target/xtask/images").join(name)
}

pub fn manifest(name: &str) -> serde_json::Value {
    let path = image_dir(name).join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("manifest.json is JSON")
}

/// Runs a debugfs request against an ext4 image without mounting it.
pub fn debugfs(ext4: &Path, request: &str) -> String {
    let out = Command::new("debugfs")
        .arg("-R")
        .arg(request)
        .arg(ext4)
        .output()
        .expect("running debugfs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SIGINT to the process group led by `child` (spawned with `process_group(0)`),
/// as Ctrl-C on a terminal does to its foreground group.
pub fn interrupt_group(child: &mut Child) {
    let pgid = child.id() as libc::pid_t;
    assert!(pgid > 1, "refusing to signal process group {pgid}");
    // SAFETY: kill(2) with a negative pid signals exactly that process group.
    let sent = unsafe { libc::kill(-pgid, libc::SIGINT) };
    assert_eq!(
        sent,
        0,
        "kill(-{pgid}, SIGINT): {}",
        std::io::Error::last_os_error()
    );
}

/// Starts `cargo xtask --config CONFIG ARGS` in its own process group (so
/// [`interrupt_group`] reaches it and all it started), stderr piped.
pub fn spawn_in_group(config: &Path, args: &[&str]) -> Child {
    spawn_in_group_env(config, args, &[])
}

/// [`spawn_in_group`] with extra environment variables.
pub fn spawn_in_group_env(config: &Path, args: &[&str], env: &[(&str, &Path)]) -> Child {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("starting xtask")
}

/// Waits for `child` at most `limit`; past it, SIGKILLs its process group so
/// a failing test never leaves it behind, and returns `None`.
pub fn wait_or_kill(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above; the group is the child's own.
    unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
    let _ = child.wait();
    None
}

/// ACALSim's sources for the co-simulation tests: `ACALSIM_SRC`, else the
/// tarball beside this checkout in `../shared/acalsim/`. Missing is a failure
/// that says what is missing, never a skip.
pub fn acalsim_src() -> PathBuf {
    shared_source("ACALSIM_SRC", "acalsim", "ACALSim's sources")
}

/// SST-core's source for the `--full` SST test: `SST_CORE_SRC`, else the
/// tarball in `../shared/sst-core/`; missing is a failure, never a skip.
pub fn sst_core_src() -> PathBuf {
    shared_source("SST_CORE_SRC", "sst-core", "SST-core's source")
}

/// `$env`, else the `*.tar.xz` in `../shared/DIR/`.
fn shared_source(env: &str, dir: &str, what: &str) -> PathBuf {
    if let Some(src) = std::env::var_os(env).filter(|v| !v.is_empty()) {
        return PathBuf::from(src);
    }
    let dir = root().join("../shared").join(dir);
    let tarball = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with(".tar.xz"))
    });
    tarball.unwrap_or_else(|| {
        panic!(
            "cannot find {what}: {env} is not set and {} holds no *.tar.xz",
            dir.display()
        )
    })
}

/// [`xtask`] with extra environment variables (and `unset` removed).
pub fn xtask_env(config: &Path, args: &[&str], env: &[(&str, &Path)], unset: &[&str]) -> Output {
    let mut cmd = Command::new(xtask_bin());
    cmd.arg("--config")
        .arg(config)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let out = cmd.output().expect("starting xtask");
    eprintln!(
        "$ xtask --config {} {}\n--- stderr ---\n{}",
        config.display(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
