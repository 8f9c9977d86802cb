//! `cargo xtask`: builds and runs the ACALSim RISC-V guest images.
//!
//! This file only parses the command line, moves to the workspace root and
//! dispatches; each command lives in its own module.

mod acalsim;
mod bench;
mod buildroot;
mod cache;
mod config;
mod cosim;
mod debian;
mod flags;
#[cfg(test)]
mod golden;
mod host;
mod image;
mod images;
mod kernel_modules;
mod lock;
mod manifest;
mod output;
mod progress;
mod project;
mod pytorch;
mod qemu;
mod run;
mod snapshot;
mod ssh;
mod sst;
mod sweep;
mod table;
mod test;
#[cfg(test)]
mod tidy;

use anyhow::Result;
use clap::Parser;

fn main() {
    match try_main() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("{}", error_text(&e));
            std::process::exit(1);
        }
    }
}

/// The outermost context says what went wrong and what to do; the causes
/// below it say where. A cause whose text is already said above it is left
/// out rather than repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = format!("error: {e}");
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text += &format!("\n\ncaused by: {cause}");
        }
    }
    text
}

/// Runs the command; `Ok` carries the process exit status (`run` and `ssh`
/// pass on the guest command's).
fn try_main() -> Result<i32> {
    let flags = flags::Xtask::parse();
    let project = project::Project::open(&flags.config, flags.verbose)?;
    let done = match flags.command {
        flags::Command::Doctor(d) if d.cosim => return cosim::ready::run(&project, d.json),
        flags::Command::Doctor(d) => host::doctor(
            &project.sh,
            host::DoctorOptions {
                fix: d.fix,
                json: d.json,
            },
        ),
        flags::Command::Image(i) => image::run(&project, &i),
        flags::Command::Images(i) => images::run(&project, i.json),
        flags::Command::Run(r) => {
            let args: Vec<_> = std::env::args_os().collect();
            flags::require_command_after_dashes("run", &args, &r.command)
                .map_err(anyhow::Error::msg)?;
            return run::run(&project, &run::Request::from(&r), None);
        }
        flags::Command::Snapshots(s) => snapshot::run(s.clean, s.prune, s.json),
        flags::Command::Ssh(s) => return ssh::run(&project, &s),
        flags::Command::Buildroot(b) => buildroot::run(&project, &b),
        flags::Command::Qemu(q) => qemu::run(&project, &q),
        flags::Command::Cosim(c) => {
            let args: Vec<_> = std::env::args_os().collect();
            flags::require_command_after_dashes("cosim", &args, &c.run.command)
                .map_err(anyhow::Error::msg)?;
            return cosim::run(&project, &c);
        }
        flags::Command::Sweep(s) => return sweep::run(&project, &s),
        flags::Command::Sst(s) => sst::run(&project, &s.command),
        flags::Command::Pytorch(p) => return pytorch::run(&project, &p),
        flags::Command::Test(t) => test::run(&project, &t),
        flags::Command::Bench(b) => bench::run(&project, &b),
    };
    done.map(|()| 0)
}

#[cfg(test)]
mod tests {
    use anyhow::Context;

    use super::*;

    #[test]
    fn a_cause_the_message_already_says_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = Err::<(), _>(io)
            .context("reading /x/acalsim.toml")
            .unwrap_err();
        assert_eq!(
            error_text(&e),
            "error: reading /x/acalsim.toml\n\ncaused by: No such file"
        );
        let e = anyhow::anyhow!("sst exited: status 3")
            .context("the SST side failed (sst exited: status 3)");
        assert_eq!(
            error_text(&e),
            "error: the SST side failed (sst exited: status 3)"
        );
    }
}
