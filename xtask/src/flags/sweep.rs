//! `cargo xtask sweep`.

use std::path::PathBuf;

/// Run an experiment: one guest command over a matrix of parameters, a co-simulation per point
///
/// FILE (TOML; see experiments/ and docs/sweeps.md) gives the image, `warm`, `timeout`,
/// `repeats`, the guest `command` as an argv template with {name} placeholders, the SST
/// side (`sst`: "peer", the default, with `cycles_per_unit`; a shell command such as
/// "sst … -- --param={name}"; or "none": plain runs), `[matrix]` (name → list of values,
/// with `exclude` and `include` lists), `metrics` and `[plot]`. The job prints its
/// results as one JSON object on its last stdout line.
///
/// Each point is a whole session with its own socket, SST side and directory:
/// target/xtask/sweeps/NAME/points/ID/ (output.txt, the boot and SST logs, record.json
/// with the parameters, argv, status, times, metrics and the provenance: image, QEMU,
/// SST side, ACALSim sources, git commit). Point ids come from the parameter values, so
/// adding a value keeps every old id. A run skips the points already ok and runs the
/// missing and failed ones; it refuses to mix in results of another image, QEMU or SST
/// build (--force runs everything again). With `warm`, the first point saves the
/// snapshot and every other one restores it. After each point, results.csv,
/// results.json, results.md and plot.svg are rewritten. Ctrl-C stops every session and
/// leaves the stopped points for the next run. The exit status is 0 only when every
/// point ended ok; the summary names the failed points and their logs.
///
/// With --slurm the points run as a Slurm job array instead: the snapshot is saved here
/// first, then one task per point (--cpus-per-task = the image's smp, --mem = its memory
/// and 1 GiB more, at most --max-parallel at once) and a collector job that writes the
/// tables. The scripts stay in the results directory's slurm/ (re-submittable with
/// sbatch). The cluster needs the checkout, the results and the user cache on a shared
/// filesystem (docs/sweeps.md).
///
///   cargo xtask sweep experiments/sst-compute.toml
///   cargo xtask sweep experiments/tiny-llama.toml --jobs 2
///   cargo xtask sweep experiments/sst-compute.toml --report
///   cargo xtask sweep experiments/sst-compute.toml --slurm --max-parallel 4 --wait
///   cargo xtask sweep experiments/sst-compute.toml --status
#[derive(clap::Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct Sweep {
    /// The experiment file.
    pub file: PathBuf,
    /// Sessions at once (default: the cores divided by the image's smp, at least 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// The results directory (default: target/xtask/sweeps/NAME, NAME the file's stem).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run every point again, also the completed ones, even if the inputs changed.
    #[arg(long)]
    pub force: bool,
    /// Only rewrite the tables and the plot from the points' records.
    #[arg(long, conflicts_with_all = ["status", "point", "slurm"])]
    pub report: bool,
    /// Say which points are done, failed, queued or running (with Slurm's squeue and sacct).
    #[arg(long, conflicts_with_all = ["point", "slurm"])]
    pub status: bool,
    /// Run this one point (what each Slurm task runs); its id is in results.csv.
    #[arg(long, value_name = "ID", conflicts_with = "slurm")]
    pub point: Option<String>,
    /// Submit the points as a Slurm job array instead of running them here.
    #[arg(long)]
    pub slurm: bool,
    /// Slurm: the partition to submit to (default: the cluster's default).
    #[arg(long, value_name = "P", requires = "slurm")]
    pub partition: Option<String>,
    /// Slurm: at most K tasks at once (the array's %K throttle).
    #[arg(long, value_name = "K", requires = "slurm", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// Slurm: one more sbatch option for both jobs, e.g. --sbatch-arg=--time=02:00:00 (repeatable).
    #[arg(
        long,
        value_name = "ARG",
        requires = "slurm",
        allow_hyphen_values = true
    )]
    pub sbatch_arg: Vec<String>,
    /// Slurm: wait for the jobs, then print the summary (Ctrl-C cancels them).
    #[arg(long, requires = "slurm")]
    pub wait: bool,
}
