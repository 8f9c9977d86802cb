//! `cargo xtask run`: boot a built image and supervise QEMU.
//!
//! The command line comes from `qemu.rs`; this module does the effects: the
//! job files and sockets in a temporary directory, the image lock, QEMU as a
//! child that dies with us, the output streams, the timeout and the signals,
//! and the exit status. Every way out goes through [`Session`]'s teardown,
//! so no QEMU process, socket or job file outlives the command.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::manifest::Manifest;
use crate::project::Project;
use crate::ssh;
use machine::{Boot, Console, MachineOptions, Port, Share};

pub mod argv;
pub mod defaults;
pub mod machine;
mod request;

pub use request::Request;

/// Exit status when `--timeout` expires (as coreutils' `timeout`).
const EXIT_TIMEOUT: i32 = 124;

/// Where a headless job's stdout goes: the terminal, or a caller's sink
/// (`pytorch build` reads ninja's progress from it).
pub type StdoutSink = Box<dyn FnMut(&[u8]) + Send>;

/// Boots the image `request` names and supervises QEMU until it exits;
/// returns the exit status for this process (the guest command's, for a job).
pub fn run(project: &Project, request: &Request, stdout_sink: Option<StdoutSink>) -> Result<i32> {
    let flags = request;
    let name = image_name(project, flags.image.as_deref())?;
    let image_dir = project.images_dir().join(&name);
    let manifest = Manifest::read(&image_dir).with_context(|| {
        format!("image `{name}` is not built; build it with `cargo xtask image {name}`")
    })?;
    if !manifest.artifacts_present(&image_dir) {
        bail!("image `{name}` in {} is incomplete; rebuild it with `cargo xtask image {name} --rebuild`", image_dir.display());
    }
    if let Some(socket) = &flags.sst_socket {
        require_sst_device(project, &flags.qemu, socket)?;
    }
    let job = flags.is_job();
    let _lock = lock_image(project, &name, flags.persist)?;

    remove_stale_run_dirs();
    let tmp = tempfile::Builder::new()
        .prefix(RUN_DIR_PREFIX)
        .tempdir()
        .context("creating a temporary directory for the run")?;
    let pid_file = tmp.path().join("pid");
    std::fs::write(&pid_file, std::process::id().to_string())
        .with_context(|| format!("writing {}", pid_file.display()))?;
    let job_dir = tmp.path().join("job");
    std::fs::create_dir(&job_dir).with_context(|| format!("creating {}", job_dir.display()))?;
    let work_share = match &flags.share {
        Some(dir) => dir
            .canonicalize()
            .with_context(|| format!("--share {}: no such directory", dir.display()))?,
        None => project.xtask_dir().join("share"),
    };
    std::fs::create_dir_all(&work_share)
        .with_context(|| format!("creating {}", work_share.display()))?;
    if job {
        write_job(&job_dir.join("job.sh"), &flags.command, &flags.envs)?;
    }

    let mut forwards = flags.forwards.clone();
    let ssh_session = if flags.ssh {
        let port = ssh::free_port()?;
        forwards.push(machine::Forward {
            host: port,
            guest: 22,
        });
        let key = ssh::ensure_key(&project.sh)?;
        std::fs::copy(key.with_extension("pub"), job_dir.join("authorized_keys"))
            .context("copying the ssh public key")?;
        Some(ssh::Session::start(project, &name, port)?)
    } else {
        None
    };

    let boot = match flags.boot {
        Some(boot) => boot,
        None if job => Boot::Fast,
        None => Boot::Full,
    };
    let sockets = Sockets::new(tmp.path(), job)?;
    let options = MachineOptions {
        qemu: flags.qemu.clone(),
        smp: flags.smp,
        memory_mib: flags.memory_mib,
        mode: flags.mode,
        boot,
        persist: flags.persist,
        job,
        net: flags.net,
        ssh: flags.ssh,
        console: if job {
            Console::Socket(sockets.console_path.clone())
        } else {
            Console::Terminal
        },
        shares: vec![
            Share {
                name: "job".into(),
                host: job_dir.clone(),
                readonly: false,
            },
            Share {
                name: "scripts".into(),
                host: project.root.join("guest-scripts"),
                readonly: true,
            },
            Share {
                name: "share".into(),
                host: work_share,
                readonly: false,
            },
        ],
        forwards,
        ports: sockets.ports.iter().map(|(port, _)| port.clone()).collect(),
        sst_socket: flags.sst_socket.clone(),
        append: flags.append.clone(),
        drives: flags
            .drives
            .iter()
            .map(|d| {
                d.canonicalize()
                    .with_context(|| format!("--drive {}: no such file", d.display()))
            })
            .collect::<Result<_>>()?,
    };
    let machine = machine::plan(&manifest, &image_dir, &options)?;
    let argv = argv::argv(&machine);
    let log_path = project.logs_dir().join(format!("run-{name}.log"));
    std::fs::create_dir_all(project.logs_dir())
        .with_context(|| format!("creating {}", project.logs_dir().display()))?;
    let mut log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let q = &machine.qemu;
    let args = &argv;
    let shown = cmd!(project.sh, "{q} {args...}").to_string();
    writeln!(log, "$ {shown}\n").with_context(|| format!("writing {}", log_path.display()))?;
    if project.verbose {
        eprintln!("$ {shown}");
    }
    if let Some(s) = &ssh_session {
        eprintln!("ssh: `cargo xtask ssh {name}` (127.0.0.1:{})", s.port);
    }

    let signals = Signals::register()?;
    let started = Instant::now();
    let mut command: Command = cmd!(project.sh, "{q} {argv...}").into();
    command.current_dir(&project.root);
    let outcome = if job {
        let timeout = flags.timeout;
        let streams = Streams {
            sockets,
            log,
            show_console: flags.show_console,
            stdout_sink,
        };
        headless(command, streams, timeout, &signals, &job_dir)
    } else {
        interactive(command, &signals)
    };
    drop(ssh_session);
    let secs = started.elapsed().as_secs_f64();
    match outcome? {
        Outcome::Exited(code) => {
            if project.verbose {
                eprintln!("guest finished in {secs:.1}s with exit status {code}");
            }
            Ok(code)
        }
        Outcome::Interrupted(signal) => {
            eprintln!(
                "interrupted: QEMU stopped after {secs:.1}s (boot log: {})",
                log_path.display()
            );
            Ok(128 + signal)
        }
        Outcome::TimedOut => {
            eprintln!(
                "error: the command did not finish within {}s (--timeout); QEMU was killed. Boot log: {}",
                flags.timeout.map_or(0, |t| t.as_secs()),
                log_path.display()
            );
            Ok(EXIT_TIMEOUT)
        }
        Outcome::NoStatus {
            qemu,
            console_tail,
            qemu_stderr,
        } => {
            let panic = console_tail
                .lines()
                .find(|l| l.contains("Kernel panic"))
                .map(str::trim);
            let mut msg = match panic {
                Some(line) => format!("the guest kernel panicked: {line}"),
                None => format!("QEMU exited ({qemu}) before the command reported its exit status"),
            };
            if !qemu_stderr.trim().is_empty() {
                msg.push_str(&format!("\nQEMU said:\n{}", indent(qemu_stderr.trim())));
            }
            let tail: Vec<&str> = console_tail.lines().rev().take(20).collect();
            if !tail.is_empty() {
                msg.push_str("\nlast console lines:\n");
                msg.push_str(&indent(
                    &tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
                ));
            }
            bail!("{msg}\nfull boot log: {}", log_path.display())
        }
    }
}

const RUN_DIR_PREFIX: &str = "acalsim-run-";

/// Run directories are removed on every exit we get to see; one whose owner
/// was SIGKILLed (its QEMU died with it) is removed by the next run.
fn remove_stale_run_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for dir in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
        if !dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(RUN_DIR_PREFIX))
        {
            continue;
        }
        let owner = std::fs::read_to_string(dir.join("pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// The config's default image, or NAME if it is in the config or built.
fn image_name(project: &Project, name: Option<&str>) -> Result<String> {
    if let Some(name) = name {
        if project
            .images_dir()
            .join(name)
            .join(crate::manifest::FILE)
            .is_file()
        {
            return Ok(name.to_string());
        }
    }
    Ok(project.config()?.image(name)?.name.clone())
}

/// Persistent runs write the image: one at a time, and no snapshot run may
/// read it meanwhile. Snapshot runs share the lock with each other.
fn lock_image(project: &Project, name: &str, persist: bool) -> Result<File> {
    let dir = project.xtask_dir().join("run");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.lock"));
    let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let locked = if persist {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) if persist => {
            bail!("image `{name}` is in use by another `cargo xtask run`; a --persist run needs it alone (lock: {})", path.display())
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            bail!("image `{name}` is in use by a `cargo xtask run --persist`; wait for it to finish (lock: {})", path.display())
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("locking {}", path.display()))
        }
    }
}

fn require_sst_device(project: &Project, qemu: &Path, socket: &Path) -> Result<()> {
    let sh = &project.sh;
    let out = cmd!(sh, "{qemu} -machine virt -device help")
        .ignore_status()
        .quiet()
        .output()
        .with_context(|| format!("running `{} -device help`", qemu.display()))?;
    let devices = String::from_utf8_lossy(&out.stdout);
    if !devices.contains("\"virtio-sst-device\"") {
        bail!(
            "--sst-socket {}: QEMU `{}` has no virtio-sst-device (checked with `-device help`); \
             it needs ACALSim's QEMU build: pass --qemu PATH or set ACALSIM_QEMU",
            socket.display(),
            qemu.display()
        );
    }
    Ok(())
}

/// The job script: exactly the argv given (no shell word splitting), in the
/// work share, with the extra environment.
pub fn job_script(command: &[String], envs: &[(String, String)]) -> String {
    let mut s =
        String::from("# written by `cargo xtask run`\ncd /mnt/share 2>/dev/null || cd /root\n");
    for (name, value) in envs {
        s.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    s.push_str("exec");
    for word in command {
        s.push(' ');
        s.push_str(&shell_quote(word));
    }
    s.push('\n');
    s
}

fn write_job(path: &Path, command: &[String], envs: &[(String, String)]) -> Result<()> {
    std::fs::write(path, job_script(command, envs))
        .with_context(|| format!("writing {}", path.display()))
}

pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Unix sockets QEMU connects to: the serial console and, for a job, the
/// guest's stdout and stderr ports. Bound before QEMU starts.
struct Sockets {
    console_path: PathBuf,
    console: UnixListener,
    ports: Vec<(Port, UnixListener)>,
}

impl Sockets {
    fn new(dir: &Path, job: bool) -> Result<Sockets> {
        let bind = |file: &str| -> Result<(PathBuf, UnixListener)> {
            let path = dir.join(file);
            let listener = UnixListener::bind(&path)
                .with_context(|| format!("listening on {}", path.display()))?;
            listener
                .set_nonblocking(true)
                .context("making a socket non-blocking")?;
            Ok((path, listener))
        };
        let (console_path, console) = bind("console.sock")?;
        let mut ports = Vec::new();
        if job {
            for (name, file) in [
                ("acalsim.stdout", "stdout.sock"),
                ("acalsim.stderr", "stderr.sock"),
            ] {
                let (socket, listener) = bind(file)?;
                ports.push((
                    Port {
                        name: name.into(),
                        socket,
                    },
                    listener,
                ));
            }
        }
        Ok(Sockets {
            console_path,
            console,
            ports,
        })
    }
}

enum Outcome {
    Exited(i32),
    Interrupted(i32),
    TimedOut,
    NoStatus {
        qemu: String,
        console_tail: String,
        qemu_stderr: String,
    },
}

/// SIGINT, SIGTERM and SIGHUP: remembered, acted on by the supervisor loop.
struct Signals(Arc<AtomicUsize>);

impl Signals {
    fn register() -> Result<Signals> {
        let caught = Arc::new(AtomicUsize::new(0));
        for signal in [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ] {
            signal_hook::flag::register_usize(signal, Arc::clone(&caught), signal as usize)
                .with_context(|| format!("installing a handler for signal {signal}"))?;
        }
        Ok(Signals(caught))
    }
    fn caught(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s as i32),
        }
    }
}

/// QEMU as our child: if this process dies, even by SIGKILL, the kernel
/// sends QEMU SIGTERM, which it handles by exiting cleanly.
fn spawn(mut command: Command, own_group: bool) -> Result<Child> {
    if own_group {
        // Ctrl-C reaches us only; we stop QEMU in order.
        command.process_group(0);
    }
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                return Err(io::Error::other("cargo xtask exited before QEMU started"));
            }
            Ok(())
        });
    }
    let program = command.get_program().to_string_lossy().into_owned();
    command.spawn().with_context(|| {
        format!("starting QEMU `{program}`: is it installed? (`cargo xtask doctor --fix`, or --qemu / ACALSIM_QEMU)")
    })
}

/// Waits for QEMU, stopping it on a signal or at the deadline.
fn supervise(
    child: &mut Child,
    signals: &Signals,
    deadline: Option<Instant>,
) -> Result<(ExitStatus, Option<Outcome>)> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok((status, None));
        }
        let stop = if let Some(signal) = signals.caught() {
            Some(Outcome::Interrupted(signal))
        } else if deadline.is_some_and(|d| Instant::now() >= d) {
            Some(Outcome::TimedOut)
        } else {
            None
        };
        if let Some(outcome) = stop {
            let status = stop_qemu(child)?;
            return Ok((status, Some(outcome)));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM (QEMU exits at once and restores the terminal), SIGKILL if it has
/// not after five seconds.
fn stop_qemu(child: &mut Child) -> Result<ExitStatus> {
    // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    child.wait().context("waiting for QEMU after SIGKILL")
}

fn interactive(command: Command, signals: &Signals) -> Result<Outcome> {
    let mut child = spawn(command, false)?;
    let (status, stopped) = supervise(&mut child, signals, None)?;
    Ok(stopped.unwrap_or(Outcome::Exited(status.code().unwrap_or(1))))
}

/// Where a headless guest's output goes: the serial console to the boot log (and
/// to stderr with `--console`), the job's stdout port to the sink or our stdout.
struct Streams {
    sockets: Sockets,
    log: File,
    show_console: bool,
    stdout_sink: Option<StdoutSink>,
}

fn headless(
    mut command: Command,
    streams: Streams,
    timeout: Option<Duration>,
    signals: &Signals,
    job_dir: &Path,
) -> Result<Outcome> {
    let Streams {
        sockets,
        log,
        show_console,
        mut stdout_sink,
    } = streams;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = spawn(command, true)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let qemu_done = Arc::new(AtomicBool::new(false));

    let console_tail = Arc::new(Mutex::new(Tail::default()));
    let log = Arc::new(Mutex::new(log));
    let mut pumps: Vec<JoinHandle<()>> = Vec::new();
    {
        let (tail, log) = (Arc::clone(&console_tail), Arc::clone(&log));
        pumps.push(pump(
            sockets.console,
            Arc::clone(&qemu_done),
            move |bytes| {
                tail.lock().map(|mut t| t.push(bytes)).ok();
                log.lock().map(|mut l| l.write_all(bytes)).ok();
                if show_console {
                    let _ = io::stderr().write_all(bytes);
                }
            },
        ));
    }
    for (port, listener) in sockets.ports {
        let to_stdout = port.name.ends_with("stdout");
        let mut sink = if to_stdout { stdout_sink.take() } else { None };
        pumps.push(pump(listener, Arc::clone(&qemu_done), move |bytes| {
            let _ = if let Some(sink) = sink.as_mut() {
                sink(bytes);
                Ok(())
            } else if to_stdout {
                let mut out = io::stdout().lock();
                out.write_all(bytes).and_then(|_| out.flush())
            } else {
                io::stderr().write_all(bytes)
            };
        }));
    }
    let qemu_stderr = {
        let mut pipe = child.stderr.take().context("QEMU's stderr pipe")?;
        let log = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            log.lock()
                .map(|mut l| l.write_all(format!("\n[QEMU stderr]\n{text}").as_bytes()))
                .ok();
            text
        })
    };

    let supervised = supervise(&mut child, signals, deadline);
    qemu_done.store(true, Ordering::SeqCst);
    for p in pumps {
        let _ = p.join();
    }
    let qemu_stderr = qemu_stderr.join().unwrap_or_default();
    let (status, stopped) = supervised?;
    if let Some(outcome) = stopped {
        return Ok(outcome);
    }
    let status_file = job_dir.join("status");
    match std::fs::read_to_string(&status_file) {
        Ok(text) => {
            let code = text.trim().parse().with_context(|| {
                format!(
                    "{}: `{}` is not an exit status",
                    status_file.display(),
                    text.trim()
                )
            })?;
            Ok(Outcome::Exited(code))
        }
        Err(_) => {
            let console_tail = console_tail.lock().map(|t| t.text()).unwrap_or_default();
            Ok(Outcome::NoStatus {
                qemu: describe(status),
                console_tail,
                qemu_stderr,
            })
        }
    }
}

fn describe(status: ExitStatus) -> String {
    match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".into(),
    }
}

/// Accepts QEMU's connection on `listener` and feeds everything it sends to
/// `sink` until QEMU closes it. Gives up waiting once QEMU has exited.
fn pump(
    listener: UnixListener,
    qemu_done: Arc<AtomicBool>,
    mut sink: impl FnMut(&[u8]) + Send + 'static,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        && !qemu_done.load(Ordering::SeqCst) =>
                {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(_) => return,
            }
        };
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let mut buf = [0u8; 8192];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink(&buf[..n]);
        }
    })
}

/// The last 64 KiB of the console, for error messages.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    const KEEP: usize = 64 << 10;
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > 2 * Self::KEEP {
            self.0.drain(..self.0.len() - Self::KEEP);
        }
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).replace('\r', "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_script_keeps_every_argument_whole() {
        let s = job_script(
            &["sh".into(), "-c".into(), "echo 'it''s' $HOME".into()],
            &[("A_B".into(), "x y".into())],
        );
        assert_eq!(
            s,
            "# written by `cargo xtask run`\ncd /mnt/share 2>/dev/null || cd /root\nexport A_B='x y'\nexec 'sh' '-c' 'echo '\\''it'\\'''\\''s'\\'' $HOME'\n"
        );
    }

    #[test]
    fn shell_quote_survives_a_real_shell() {
        let word = "a 'b' \"c\" $d `e` \\f\n";
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", shell_quote(word)))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), word);
    }

    #[test]
    fn tail_keeps_the_end() {
        let mut t = Tail::default();
        for _ in 0..300 {
            t.push(&[b'x'; 1024]);
        }
        t.push(b"Kernel panic - not syncing\r\n");
        assert!(t.0.len() <= 2 * Tail::KEEP);
        assert!(t.text().ends_with("Kernel panic - not syncing\n"));
    }
}
