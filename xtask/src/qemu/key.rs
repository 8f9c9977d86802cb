//! Everything a QEMU build reads besides its source, gathered once: the
//! cache key is a hash over these and the source's identity, so a change to
//! any of them (ACALSim's device, the glue, a patch, the compiler, the
//! firmware) builds again, and nothing else does.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use super::configure;
use super::tree::Glue;
use crate::acalsim::{Acalsim, DEVICE_FILES};
use crate::cache::{self, ContentKey};
use crate::config::Qemu;
use crate::host::OPENSBI_FW;
use crate::progress::CommandLog;

/// Bump when the build's layout or steps change without any input changing.
const BUILD_FORMAT: &str = "1";
/// The name QEMU's `virt` machine looks for with `-bios default`.
pub const FIRMWARE_NAME: &str = "opensbi-riscv64-generic-fw_dynamic.bin";

pub struct Inputs {
    version: String,
    configure: Vec<String>,
    compiler: String,
    meson: String,
    glue: String,
    pub acalsim_device: String,
    pub firmware: PathBuf,
    pub firmware_sha256: String,
}

impl Inputs {
    pub fn gather(
        sh: &Shell,
        log: &CommandLog,
        q: &Qemu,
        acalsim: &Acalsim,
        glue: &Glue,
    ) -> Result<Inputs> {
        let firmware = PathBuf::from(OPENSBI_FW);
        let firmware_sha256 = cache::sha256_file(&firmware).with_context(|| {
            format!("OpenSBI's firmware {OPENSBI_FW} is needed beside the built QEMU: `cargo xtask doctor --fix` installs it")
        })?;
        let mut device = ContentKey::new("acalsim-device");
        for f in DEVICE_FILES {
            device.add_file(f, &acalsim.device_dir().join(f))?;
        }
        let mut g = ContentKey::new("qemu-glue");
        g.add_file("unit", &glue.unit)?;
        for p in &glue.patches {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            g.add_file(&name, p)?;
        }
        let compiler = first_line(
            log.read(cmd!(sh, "cc --version"))
                .context("the C compiler (`cc`) is needed: `cargo xtask doctor --fix`")?,
        );
        let meson = log.read(cmd!(sh, "meson --version")).context(
            "meson is needed: `cargo xtask doctor --fix` installs bookworm-backports' 1.7",
        )?;
        Ok(Inputs {
            version: q.version.clone(),
            configure: configure::args("-"),
            compiler,
            meson,
            glue: g.hex(),
            acalsim_device: device.hex(),
            firmware,
            firmware_sha256,
        })
    }

    /// The cache key for the source `identity` (`sha256:…` or `commit:…`).
    pub fn key(&self, identity: &str) -> String {
        ContentKey::new("qemu-build")
            .add("format", BUILD_FORMAT.as_bytes())
            .add("version", self.version.as_bytes())
            .add("source", identity.as_bytes())
            .add("configure", self.configure.join(" ").as_bytes())
            .add("compiler", self.compiler.as_bytes())
            .add("meson", self.meson.as_bytes())
            .add("glue", self.glue.as_bytes())
            .add("acalsim-device", self.acalsim_device.as_bytes())
            .add("firmware", self.firmware_sha256.as_bytes())
            .hex()
    }
}

fn first_line(s: String) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// The compiler's first error in ACALSim's device or the glue, from a build log.
pub fn first_device_error(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("error:") && (l.contains("virtio-sst") || l.contains("acalsim")))
        .map(|l| {
            l.split_once("] ")
                .map_or(l, |(_, rest)| rest)
                .trim()
                .to_string()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_error_in_the_device_is_picked_out_of_a_build_log() {
        let log = "[00:01:02] [1187/1191] Compiling C object hw_virtio_acalsim-virtio-sst.c.o\n\
                   [00:01:03] ../src/hw/virtio/acalsim/virtio-sst.c:431:9: error: 'AcalsimVirtioDeviceClass70' has no member named 'vmsd'\n\
                   [00:01:03] ../src/hw/virtio/acalsim/virtio-sst.c:432:9: error: second\n";
        assert_eq!(
            first_device_error(log).as_deref(),
            Some("../src/hw/virtio/acalsim/virtio-sst.c:431:9: error: 'AcalsimVirtioDeviceClass70' has no member named 'vmsd'")
        );
        assert_eq!(
            first_device_error("../src/util/x.c:1:1: error: other\n"),
            None
        );
    }
}
