//! What every image build produces, whatever its flavour: artifacts with
//! their hashes, the kernel command lines, `manifest.json`, `run.sh`, the
//! install by rename and the summary. Debian and Buildroot builds both end
//! here, so neither imports the other.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::cache;
use crate::host;
use crate::manifest::{Artifact, Manifest, StepTime};
use crate::progress::human_bytes;
use crate::project::Project;

/// The kernel command lines by boot mode: `disk` mounts the root that
/// `root_args` names; `initramfs` runs the cpio's /init.
pub fn kernel_cmdlines(root_args: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "disk".to_string(),
            format!("{root_args} console=ttyS0 panic=-1"),
        ),
        (
            "initramfs".to_string(),
            "rdinit=/init console=ttyS0 panic=-1".to_string(),
        ),
    ])
}

/// `file` in `dir` as a manifest artifact: its size and sha256.
pub fn artifact(dir: &Path, file: &str) -> Result<Artifact> {
    let path = dir.join(file);
    let size = std::fs::metadata(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    Ok(Artifact {
        path: file.to_string(),
        sha256: cache::sha256_file(&path)?,
        size,
    })
}

/// The steps' wall times as the manifest records them.
pub fn step_times(timings: &[(String, f64)]) -> Vec<StepTime> {
    timings
        .iter()
        .map(|(step, secs)| StepTime {
            step: step.clone(),
            secs: *secs,
        })
        .collect()
}

/// The host tools' versions, for the manifest.
pub fn tool_versions(sh: &Shell) -> BTreeMap<String, String> {
    host::probe(sh)
        .into_iter()
        .filter_map(|s| s.banner.map(|v| (s.tool.command.to_string(), v)))
        .collect()
}

/// Now, as the manifest's `created` stamp.
pub fn utc_now(sh: &Shell) -> String {
    cmd!(sh, "date -u +%Y-%m-%dT%H:%M:%SZ")
        .quiet()
        .read()
        .unwrap_or_default()
}

/// Writes `run.sh` and `manifest.json` into `staged` and installs it as
/// image `m.name`: the finished image appears whole or not at all.
pub fn finish(project: &Project, m: &Manifest, staged: &Path) -> Result<()> {
    write_run_script(project, m, staged)?;
    m.write(staged)?;
    install(staged, &project.images_dir().join(&m.name))
}

/// `run.sh`: boots the image with plain QEMU, no xtask needed (`qemu/run.sh.in`).
pub fn write_run_script(project: &Project, m: &Manifest, out: &Path) -> Result<()> {
    let template_path = project.root.join("qemu/run.sh.in");
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let text = render_run_script(&template, m);
    let path = out.join("run.sh");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", path.display()))
}

/// `run.sh.in` with the image's files, command lines and defaults filled in.
pub fn render_run_script(template: &str, m: &Manifest) -> String {
    let rootfs = |f: &str| m.rootfs.get(f).map(|a| a.path.clone()).unwrap_or_default();
    let cmdline = |k: &str| m.cmdline.get(k).cloned().unwrap_or_default();
    template
        .replace("@NAME@", &m.name)
        .replace("@KERNEL@", &m.kernel.path)
        .replace(
            "@DISK_INITRD@",
            &m.initrd
                .as_ref()
                .map(|a| format!("-initrd \"$here/{}\"", a.path))
                .unwrap_or_default(),
        )
        .replace(
            "@BIOS@",
            &m.firmware
                .as_ref()
                .map(|a| format!("\"$here/{}\"", a.path))
                .unwrap_or_else(|| "default".into()),
        )
        .replace("@EXT4@", &rootfs("ext4"))
        .replace("@QCOW2@", &rootfs("qcow2"))
        .replace("@INITRAMFS@", &rootfs("initramfs"))
        .replace("@DISK_CMDLINE@", &cmdline("disk"))
        .replace("@INITRAMFS_CMDLINE@", &cmdline("initramfs"))
        .replace("@SMP@", &m.run.smp.to_string())
        .replace("@MEMORY_MIB@", &m.run.memory_mib.to_string())
}

/// Replaces `dest` with `staged`: the old image stays whole until the new one
/// is complete, and is removed only after the new one is in place.
pub fn install(staged: &Path, dest: &Path) -> Result<()> {
    let parent = dest.parent().context("image dir has no parent")?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let old = parent.join(format!(
        ".{}.old",
        dest.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    remove_dir(&old)?;
    if dest.exists() {
        std::fs::rename(dest, &old).with_context(|| format!("moving {} aside", dest.display()))?;
    }
    std::fs::rename(staged, dest)
        .with_context(|| format!("renaming {} to {}", staged.display(), dest.display()))?;
    remove_dir(&old)
}

pub fn remove_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

/// Where the image is, its files and sizes, and how to boot it.
pub fn print_summary(m: &Manifest, dir: &Path) {
    eprintln!("  {}", dir.display());
    for a in m.artifacts() {
        eprintln!("    {:<18} {:>10}", a.path, human_bytes(a.size));
    }
    if m.build.rootfs_used_bytes > 0 {
        eprintln!(
            "    ext4 in use        {:>10}",
            human_bytes(m.build.rootfs_used_bytes)
        );
    }
    eprintln!("  boot it: {}/run.sh", dir.display());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest;

    #[test]
    fn kernel_command_lines_name_the_root_and_the_console() {
        let c = kernel_cmdlines("root=LABEL=acalsim-root rw");
        assert_eq!(
            c["disk"],
            "root=LABEL=acalsim-root rw console=ttyS0 panic=-1"
        );
        assert_eq!(c["initramfs"], "rdinit=/init console=ttyS0 panic=-1");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn run_script_fills_every_placeholder_from_the_manifest() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../qemu/run.sh.in"))
                .unwrap();
        let art = |p: &str| Artifact {
            path: p.into(),
            sha256: String::new(),
            size: 1,
        };
        let m = Manifest {
            cmdline: BTreeMap::from([
                ("disk".into(), "root=/dev/vda rw".into()),
                ("initramfs".into(), "rdinit=/init".into()),
            ]),
            run: crate::config::RunDefaults {
                smp: 3,
                memory_mib: 1536,
            },
            ..manifest::sample()
        };
        let text = render_run_script(&template, &m);
        let placeholder = text
            .match_indices('@')
            .any(|(i, _)| text[i + 1..].starts_with(|c: char| c.is_ascii_uppercase()));
        assert!(!placeholder, "unfilled placeholder:\n{text}");
        assert!(text.contains(r#"-smp "${SMP:-3}""#) && text.contains(r#""${MEMORY_MIB:-1536}M""#));
        assert!(
            text.contains(r#"-append "root=/dev/vda rw""#)
                && text.contains(r#"ext4="rootfs.ext4""#)
                && text.contains(r#"-drive "file=$here/$ext4,"#)
        );
        assert!(
            text.contains("initramfs=\"\"\n"),
            "no initramfs artifact: --initramfs refuses"
        );
        assert!(text.contains("-bios default") && text.contains("-no-reboot"));
        assert!(
            text.contains(r#"-initrd "$here/initrd.img" -append "root=/dev/vda rw""#),
            "{text}"
        );
        // Buildroot: its own firmware, no initrd before a disk boot.
        let m = Manifest {
            initrd: None,
            firmware: Some(art("fw_jump.elf")),
            ..m
        };
        let text = render_run_script(&template, &m);
        assert!(text.contains(r#"-bios "$here/fw_jump.elf""#), "{text}");
        assert!(
            text.contains(r#"exec "$qemu" "$@"  -append "root=/dev/vda rw""#),
            "{text}"
        );
    }

    #[test]
    fn install_replaces_the_old_image_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (staged, dest) = (dir.path().join("staged"), dir.path().join("images/x"));
        std::fs::create_dir_all(&dest).unwrap();
        std::fs::write(dest.join("old-only"), b"old").unwrap();
        std::fs::create_dir_all(&staged).unwrap();
        std::fs::write(staged.join("new"), b"new").unwrap();
        install(&staged, &dest).unwrap();
        assert!(dest.join("new").exists() && !dest.join("old-only").exists() && !staged.exists());
        assert!(!dir.path().join("images/.x.old").exists());
    }
}
