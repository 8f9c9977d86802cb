//! The SST side of a co-simulation: ACALSim's socket protocol
//! ([`protocol`]) and the reference peer that speaks it ([`peer`],
//! `cargo xtask sst peer`), the default SST side of `cargo xtask cosim`.

pub mod peer;
pub mod protocol;

use anyhow::Result;

use crate::flags::{SstCommand, SstPeer};

pub fn run(command: &SstCommand) -> Result<()> {
    match command {
        SstCommand::Peer(p) => peer::serve(&options(p)),
    }
}

fn options(p: &SstPeer) -> peer::Options {
    peer::Options {
        socket: p.socket.clone(),
        cycles_per_unit: p.cycles_per_unit,
        log: p.log.clone(),
    }
}
