//! `cargo xtask cosim` and `cargo xtask sst`.

use std::path::PathBuf;

use clap::Subcommand;

use super::run::Run;

/// Run a co-simulation: the SST side and the guest together, started in order, ended together
///
/// 1. picks a fresh socket in the session's private directory (or --socket PATH, for
///    SST configs that hard-code theirs, e.g. ACALSim's linux_basic.py:
///    /tmp/qemu-sst-linux.sock), refusing a path another session holds;
/// 2. starts the SST side: --sst CMD (a shell command; `{socket}` in it and
///    $ACALSIM_SST_SOCKET name the socket), else the reference peer `cargo xtask sst peer`;
/// 3. waits until it listens on the socket, without connecting (ACALSim's component
///    takes exactly one client: QEMU), read from /proc/net/unix;
/// 4. boots IMAGE on the project's QEMU (`cargo xtask qemu build`) with
///    `-device virtio-sst-device,socket=SOCKET`, runs CMD headless (or the console);
/// 5. stops the SST side (SIGTERM, then SIGKILL) and removes the socket.
///
/// The exit status is the guest command's. If the SST side dies first, the guest gets
/// 10 s to finish (its COMPUTEs see NO_DEVICE), then the run ends non-zero naming the
/// SST side's exit status and log. Ctrl-C, --timeout or an error leave no process and
/// no socket behind. Each session has a run folder, target/xtask/runs/TIME-IMAGE/:
/// sst.log (the SST side's output), peer.jsonl (the reference peer's requests),
/// boot.log (the guest's console and QEMU) and run.json (both sides, the times); it
/// ends with one summary line, e.g. `exit 0 in 10.9 s (boot 6.2 s, job 4.1 s; 1000
/// COMPUTEs, 3262207600 cycles); run folder: …`, or the record as JSON with --json.
/// Defaults can live in the [cosim] table of acalsim.toml (image, sst, sst_dir,
/// socket, listen_timeout). Every `run` option but --sst-socket applies to the guest.
/// With `cargo xtask sst build`'s SST, `--sst 'sst CONFIG.py'` finds its element
/// library through SST_LIB_PATH: no --add-lib-path.
///
///   cargo xtask cosim -- python3 /mnt/scripts/sst/sst_compute.py --count 1000
///   cargo xtask cosim cosim --socket /tmp/qemu-sst-linux.sock \
///       --sst-dir ~/acalsim/src/qemu-acalsim-sst-linux/sst-config \
///       --sst 'sst linux_basic.py' -- python3 /mnt/scripts/sst/sst_check.py
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment, mut_args(cosim_run_arg))]
pub struct Cosim {
    #[command(flatten)]
    pub run: Run,
    /// The SST side, a shell command run in --sst-dir ({socket} is replaced by the
    /// socket path, also in $ACALSIM_SST_SOCKET) (default: the [cosim] table's `sst`,
    /// else the reference peer).
    #[arg(long, value_name = "CMD")]
    pub sst: Option<String>,
    /// Use this socket path (for an SST config that fixes its own) instead of a fresh one
    /// (default: the [cosim] table's `socket`, else a fresh one).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The SST side's working directory (default: the [cosim] table's `sst_dir`, else
    /// the project root).
    #[arg(long, value_name = "DIR")]
    pub sst_dir: Option<PathBuf>,
    /// Seconds the SST side may take to listen on the socket (default: the [cosim]
    /// table's `listen_timeout`, else 60).
    #[arg(long, value_name = "SECS")]
    pub listen_timeout: Option<u64>,
    /// The reference peer's simulated cycles per COMPUTE unit (default: 100).
    #[arg(long, default_value_t = crate::sst::protocol::COMPONENT_CYCLES_PER_UNIT, hide_default_value = true)]
    pub cycles_per_unit: u64,
}

/// `run`'s flags as `cosim` takes them (in place: `mut_arg` would move a
/// positional to the end). The image's default is the `[cosim]` table's; and
/// --sst-socket is hidden, because a session picks the socket itself:
/// `cosim::run` refuses a given --sst-socket and names --socket instead.
fn cosim_run_arg(arg: clap::Arg) -> clap::Arg {
    match arg.get_id().as_str() {
        "name" => arg.help(
            "Image name (default: the [cosim] table's `image`, else the config's default_image)",
        ),
        "sst_socket" => arg.hide(true),
        _ => arg,
    }
}

/// The SST side of a co-simulation.
#[derive(clap::Args, Debug)]
pub struct Sst {
    #[command(subcommand)]
    pub command: SstCommand,
}

#[derive(Subcommand, Debug)]
pub enum SstCommand {
    Peer(SstPeer),
    Build(SstBuild),
    Info(SstInfo),
}

/// Build SST-core and ACALSim's SST component (element library `acalsim`) from local sources
///
/// SST-core comes from SST_CORE_SRC or `sst_core` in the [cosim] table: a git checkout
/// (at a clean commit) or a tarball, e.g. a release or `git archive` of tag v15.1.2_Final.
/// ACALSim comes from ACALSIM_SRC or [qemu] acalsim, as for `qemu build`. No network is used.
///
///   1. SST-core: autogen.sh, configure --disable-mpi --with-python=/usr/bin/python3-config,
///      make (about 7 minutes on 2 cores), make install into the user cache;
///   2. only acalsim-device/ACALSimVirtIODeviceComponent.cc compiled as libacalsim.so with
///      sst-config's element flags (ACALSim's Makefile also pulls unrelated framework sources),
///      checked with `sst-info acalsim`.
///
/// Both are cached by a key over their inputs ($XDG_CACHE_HOME/acalsim/sst/): an unchanged
/// SST-core is never rebuilt, a changed component rebuilds in seconds. The result is recorded
/// in target/xtask/sst.json; `cargo xtask cosim --sst 'sst CONFIG.py'` then finds this `sst`
/// on PATH and the element library through SST_LIB_PATH. Log: target/xtask/logs/sst-build.log.
///
///   SST_CORE_SRC=~/src/sst-core-15.1.2.tar.xz ACALSIM_SRC=~/src/acalsim cargo xtask sst build
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct SstBuild {
    /// Build again even if the cache holds this build.
    #[arg(long)]
    pub rebuild: bool,
    /// Keep SST-core's work tree (source and objects) in the cache for debugging.
    #[arg(long)]
    pub keep_work: bool,
}

/// Print the SST this checkout uses: its prefix, version, element library and components.
///
/// --json prints the record itself (target/xtask/sst.json): {prefix, elements, version,
/// core_key, element_key, core_source, core_identity, acalsim, component_sha256,
/// components, built_at, build_secs}.
#[derive(clap::Args, Debug)]
pub struct SstInfo {
    /// Print the record as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// The reference SST peer: answers QEMU's virtio-sst-device as ACALSim's component does.
///
/// Listens on --socket and answers one client (QEMU's device) at a time: COMPUTE → OK with
/// cycles = compute_units × --cycles-per-unit, result = cycles, timestamp = the peer's
/// simulated clock (the sum of the cycles so far); NOOP and ECHO as the component; every
/// other type → INVALID. Requests are exactly 4104 bytes (assembled from partial reads),
/// answers 4112. Each request is one JSON line in --log. Stops on SIGTERM or Ctrl-C and
/// removes its socket. `cargo xtask cosim` starts it when no --sst is given.
#[derive(clap::Args, Debug)]
pub struct SstPeer {
    /// The Unix socket to listen on (a stale socket file there is replaced).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// Simulated cycles per COMPUTE unit (default: 100, as ACALSim's component).
    #[arg(long, default_value_t = crate::sst::protocol::COMPONENT_CYCLES_PER_UNIT, hide_default_value = true)]
    pub cycles_per_unit: u64,
    /// Write every request and its answer here, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}
