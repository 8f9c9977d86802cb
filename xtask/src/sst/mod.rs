//! The SST side of a co-simulation: ACALSim's socket protocol
//! ([`protocol`]), the reference peer that speaks it ([`peer`], `cargo
//! xtask sst peer`, the default SST side of `cargo xtask cosim`), and real
//! SST built from the user's sources ([`build`], `cargo xtask sst build`).

pub mod build;
pub mod peer;
pub mod protocol;
pub mod record;
mod source;

/// The environment variable that names SST-core's source.
pub use source::ENV as CORE_SRC_ENV;

use anyhow::{Context, Result};

use crate::flags::{SstCommand, SstPeer};
use crate::project::Project;

pub fn run(project: &Project, command: &SstCommand) -> Result<()> {
    match command {
        SstCommand::Peer(p) => peer::serve(&options(p)),
        SstCommand::Build(b) => build::run(project, b),
        SstCommand::Info(i) => {
            let built = record::current(project)?.with_context(|| {
                format!(
                    "no SST built for this checkout ({} is missing or names a removed build): run `cargo xtask sst build`",
                    record::pointer(project).display()
                )
            })?;
            match i.json {
                true => println!("{}", serde_json::to_string_pretty(&built)?),
                false => println!("{}", built.describe()),
            }
            Ok(())
        }
    }
}

fn options(p: &SstPeer) -> peer::Options {
    peer::Options {
        socket: p.socket.clone(),
        cycles_per_unit: p.cycles_per_unit,
        log: p.log.clone(),
    }
}
