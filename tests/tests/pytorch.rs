//! End-to-end, real guest and real compilers: the prebuilt torch passes
//! torch_check.py; the in-guest build pipeline compiles real CMake projects
//! (a small one in tests/data/cxx-pipeline, and Debian's ninja-build source:
//! PyTorch's own source is not reachable from the machines these tests run on)
//! with host offload, is interrupted, resumes to completion, rebuilds from
//! ccache, and also builds without offload; a C++ operator builds against the
//! guest's torch and computes the right answer.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use tests::{
    build_lock, ensure_built, interrupt_group, root, stderr, wait_or_kill, xtask, xtask_bin,
};

fn config() -> PathBuf {
    root().join("acalsim.toml")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn prebuilt_torch_passes_the_torch_check() {
    let _lock = build_lock();
    ensure_built(&config(), "debian-sid-torch");
    // Warm: the check starts from the torch snapshot the warm torch test and
    // `bench --quick` restore too (saved by whichever runs first); .ci/run's
    // main job runs the same check after a cold boot.
    tests::cosim::build_qemu();
    let out = xtask(
        &config(),
        &[
            "run",
            "debian-sid-torch",
            "--warm",
            "--",
            "python3",
            "/mnt/scripts/torch_check.py",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warm: restored snapshot"),
        "{}",
        stderr(&out)
    );
    let r: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("one JSON object");
    assert_eq!(r["ok"], true, "{r}");
    assert!(r["torch"].as_str().unwrap().starts_with("2."), "{r}");
    assert_eq!(r["blas"], "openblas", "numpy/torch must use OpenBLAS: {r}");
    assert!(r["matmul"]["gflops"].as_f64().unwrap() > 0.0, "{r}");
    assert!(r["matmul"]["max_abs_err"].as_f64().unwrap() < 1e-2, "{r}");
}

/// The small C++ project the pipeline tests build (six library objects and
/// an executable, no LTO): enough to prove offload, resume and ccache.
fn small_project() -> String {
    root()
        .join("tests/data/cxx-pipeline")
        .to_string_lossy()
        .into_owned()
}

/// What `pipeline-demo` prints for its built-in text, computed on the host
/// from the same rules (tests/data/cxx-pipeline/src/).
const DEMO_OUTPUT: &str = "pipeline-demo 1.0: words=6 sum=4033 dates=1 keys=2 run=3 length=59\n";

/// `pytorch build --source SOURCE --target TARGET ARGS`; returns its output.
fn build(source: &str, target: &str, args: &[&str]) -> Output {
    let mut all = vec!["pytorch", "build", "--source", source, "--target", target];
    all.extend_from_slice(args);
    xtask(&config(), &all)
}

fn build_log() -> String {
    std::fs::read_to_string(root().join("target/xtask/logs/pytorch-build.log")).unwrap_or_default()
}

/// The build disk a `pytorch build` said it used (`…; build disk PATH`).
fn build_disk(out: &Output) -> PathBuf {
    let err = stderr(out);
    let line = err
        .lines()
        .find_map(|l| {
            l.split_once("; build disk ")
                .map(|(_, d)| d.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no build disk named:\n{err}"));
    PathBuf::from(line)
}

/// `run pytorch-build --drive DISK -- sh -c 'mount the build disk; JOB'`.
fn run_on_build_disk(disk: &std::path::Path, job: &str) -> Output {
    let job = format!("mkdir -p /build && mount $(findfs LABEL=acalsim-build) /build && {job}");
    xtask(
        &config(),
        &[
            "run",
            "pytorch-build",
            "--drive",
            disk.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &job,
        ],
    )
}

/// The first ninja step reported: the build is under way.
fn ninja_started(line: &str) -> bool {
    line.trim_start().starts_with('[') && line.contains('/') && line.contains('%')
}

/// distccd is up on the host (the guest has not booted yet).
fn offload_started(line: &str) -> bool {
    line.contains("offload: distccd on 127.0.0.1:")
}

/// Starts `pytorch build ARGS` in its own process group, and does `act` to
/// it once a line of its stderr is `at`; returns the exit status and what it
/// printed (everything, once it has ended).
fn build_acted_on(
    args: &[&str],
    at: fn(&str) -> bool,
    act: fn(&mut std::process::Child),
) -> (std::process::ExitStatus, String) {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(xtask_bin())
        .args(["--config"])
        .arg(config())
        .args(["pytorch", "build"])
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // Read stderr in a thread to the end: a closed pipe would make xtask's
    // next progress line fail.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr_pipe = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(900)) {
        seen.push_str(&line);
        seen.push('\n');
        if at(&line) {
            break;
        }
    }
    act(&mut child);
    let status = wait_or_kill(&mut child, Duration::from_secs(300))
        .expect("the build did not end within 5 minutes");
    let _ = reader.join();
    for line in rx.try_iter() {
        seen.push_str(&line);
        seen.push('\n');
    }
    (status, seen)
}

/// While `first` builds, the same build again must stop at once, naming
/// it; then Ctrl-C to `first`.
fn refuse_a_second_build_then_interrupt(first: &mut std::process::Child) {
    let second = build(&small_project(), "pipeline-demo", &[]);
    let err = stderr(&second);
    interrupt_group(first);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("is in use (held by pid") && err.contains(&first.id().to_string()),
        "the second build names the first:\n{err}"
    );
}

/// SIGKILLs every process in our toolchain roots: the host's distccd dies.
fn kill_distccd(_build: &mut std::process::Child) {
    let killed = processes_in_toolchains();
    assert!(!killed.is_empty(), "no distccd runs in the toolchain roots");
    for (pid, _) in killed {
        // SAFETY: kill(2) on a pid we just found in /proc.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
}

/// Compiles the host's distccd ran, by its log's job summaries.
fn host_compiles() -> usize {
    std::fs::read_to_string(root().join("target/xtask/logs/pytorch-distccd.log"))
        .unwrap_or_default()
        .matches("COMPILE_OK")
        .count()
}

#[test]
fn the_pipeline_builds_resumes_and_rebuilds_from_ccache() {
    let _lock = build_lock();
    ensure_built(&config(), "pytorch-build");
    let project = small_project();

    // 1. Fresh disk, offloaded; once ninja is under way a second build of
    // the same source is refused (one guest writes the disk), then Ctrl-C.
    let (status, seen) = build_acted_on(
        &["--source", &project, "--target", "pipeline-demo", "--fresh"],
        ninja_started,
        refuse_a_second_build_then_interrupt,
    );
    assert!(
        seen.contains("offload: distccd on 127.0.0.1:"),
        "offload must be on by default:\n{seen}"
    );
    assert_eq!(
        status.code(),
        Some(130),
        "Ctrl-C ends the build with 128 + SIGINT:\n{seen}"
    );
    assert_no_distccd_left("after Ctrl-C");

    // 1b. The host's distccd dies before the guest compiles anything: with
    // offload asked for, the build fails; it never compiles in the guest.
    let log_before = build_log().len();
    let (status, seen) = build_acted_on(
        &["--source", &project, "--target", "pipeline-demo"],
        offload_started,
        kill_distccd,
    );
    let failed_run = build_log()
        .get(log_before..)
        .unwrap_or_default()
        .to_string();
    assert!(
        !status.success() && status.code() != Some(130),
        "a build whose distccd died must fail: {status}\n{seen}"
    );
    assert!(
        failed_run.contains("distcc") && !failed_run.contains("Linking CXX executable"),
        "distcc's failure is in the log and nothing was linked:\n{failed_run}"
    );
    assert_no_distccd_left("after distccd died");

    // 2. The same command resumes and finishes: the executable is linked,
    // and every object this run compiled was compiled by the host's distccd.
    let log_before = build_log().len();
    let out = build(&project, "pipeline-demo", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("build.sh: exit 0"), "{err}");
    let resumed = build_log()
        .get(log_before..)
        .unwrap_or_default()
        .to_string();
    assert!(
        resumed.contains("Linking CXX executable pipeline-demo"),
        "the target was linked:\n{resumed}"
    );
    let compiled = resumed.matches("Building CXX object").count();
    assert!(
        compiled >= 1 && host_compiles() >= compiled,
        "{compiled} objects compiled, the host's distccd ran {} compiles:\n{resumed}",
        host_compiles()
    );

    // The riscv64 binary runs in the guest and computes what the host expects.
    let disk = build_disk(&out);
    let ran = run_on_build_disk(&disk, "/build/out/pipeline-demo");
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert_eq!(stdout(&ran), DEMO_OUTPUT);

    // 3. --clean: the build directory goes, the ccache answers every compile.
    let out = build(&project, "pipeline-demo", &["--clean"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stats = stderr(&out)
        .lines()
        .find(|l| l.starts_with("build.sh: ccache:"))
        .unwrap_or("")
        .to_string();
    let count = |key: &str| -> u64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (hits, misses) = (
        count("direct_cache_hit") + count("preprocessed_cache_hit"),
        count("cache_miss"),
    );
    // Seven objects (six library units and main.cc); CMake's compiler checks
    // compile in fresh scratch directories, so one or two of those may miss.
    assert!(
        hits >= 7 && misses <= 2,
        "the rebuild should come from ccache: {stats}"
    );

    // 4. A Debian source package (fetched and verified by apt on the host),
    // compiled without offload and without ccache: the guest compiles it itself.
    let log_before = build_log().len();
    let out = build(
        "debian:ninja-build",
        "libninja-re2c",
        &["--clean", "--no-offload", "--no-ccache"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("offload: distccd"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("offload off"), "{}", stderr(&out));
    let this_run = build_log()
        .get(log_before..)
        .unwrap_or_default()
        .to_string();
    assert!(
        this_run.contains("Building CXX object") && this_run.contains("lexer.cc"),
        "the guest compiled the lexer itself:\n{this_run}"
    );
    assert_no_distccd_left("after the builds");
}

/// Full tier only (`cargo xtask test --full`; ~10 minutes, mostly the LTO
/// link under emulation): Debian's ninja-build, 33 objects offloaded and the
/// executable linked with LTO in the guest, runs there. CI proves the same
/// pipeline on the small project above; docs/testing.md has this one's last run.
#[test]
fn full_debian_ninja_builds_offloaded_links_with_lto_and_runs() {
    let _lock = build_lock();
    ensure_built(&config(), "pytorch-build");
    let out = build("debian:ninja-build", "ninja", &["--fresh"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("offload: distccd on 127.0.0.1:"),
        "{}",
        stderr(&out)
    );
    assert!(
        build_log().contains("Linking CXX executable ninja"),
        "the target was linked:\n{}",
        build_log()
    );
    let ran = run_on_build_disk(&build_disk(&out), "/build/out/ninja --version");
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(
        stdout(&ran).trim().starts_with("1."),
        "ninja --version: {}",
        stdout(&ran)
    );
    assert_no_distccd_left("after the build");
}

/// Processes whose root is one of our toolchain roots (distccd and its
/// workers): pid and command line.
fn processes_in_toolchains() -> Vec<(i32, String)> {
    let toolchains = dirs_cache().join("acalsim/toolchains");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path().join("root")).is_ok_and(|r| r.starts_with(&toolchains))
        })
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read_to_string(e.path().join("cmdline"))
                .unwrap_or_default()
                .replace('\0', " ");
            Some((pid, cmdline))
        })
        .collect()
}

/// No process runs inside our toolchain roots (distccd and its workers) once
/// a build has ended, however it ended; the kernel needs a moment to reap them.
fn assert_no_distccd_left(when: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !processes_in_toolchains().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let left = processes_in_toolchains();
    assert!(
        left.is_empty(),
        "{when}, still running in the toolchain roots: {left:?}"
    );
}

fn dirs_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"))
}

#[test]
fn a_cpp_extension_builds_against_the_guests_torch() {
    let _lock = build_lock();
    ensure_built(&config(), "pytorch-build");
    let out = xtask(
        &config(),
        &[
            "run",
            "pytorch-build",
            "--timeout",
            "2400",
            "--",
            "python3",
            "/mnt/scripts/pytorch/cpp_extension_check.py",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("scaled_add(arange(12), 2.5, -1) = [-1.0, 1.5, 4.0,"),
        "{text}"
    );
    assert!(text.contains("cpp extension check: ok"), "{text}");
}
