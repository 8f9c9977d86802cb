//! Buildroot's source downloads: where they are kept, which the build will
//! need that are not there, and the message that lists them for a machine
//! without internet (every file, its directory and its URLs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::Value;

use crate::buildroot::hashes::{Checksum, Hashes};
use crate::cache;

/// Where Buildroot's downloads go unless BR2_DL_DIR says otherwise.
pub fn dl_dir() -> Result<PathBuf> {
    match std::env::var_os("BR2_DL_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(cache::cache_dir()?.join("buildroot/dl")),
    }
}

/// Fails unless every download is in `dl` or Buildroot's source mirror is
/// reachable (and `offline` is not asked); returns a summary.
pub fn check(downloads: &[Download], dl: &Path, offline: bool) -> Result<String> {
    let missing = missing(downloads, |d| in_dl_dir(dl, d));
    let summary = format!(
        "{} of {} source files already in {}",
        downloads.len() - missing.len(),
        downloads.len(),
        dl.display()
    );
    if missing.is_empty() || (!offline && reachable("sources.buildroot.net", 443)) {
        return Ok(summary);
    }
    bail!("{}", offline_message(&missing, dl, offline))
}

/// One source file a build downloads.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    pub package: String,
    pub dl_dir: String,
    pub file: String,
    /// Where Buildroot would fetch it, first choice first.
    pub urls: Vec<String>,
    /// What Buildroot checks it against.
    pub checksum: Checksum,
}

impl Download {
    /// `dir/file  sha256 HEX  URL`: one line of a listing.
    pub fn line(&self) -> String {
        let checksum = match &self.checksum {
            Checksum::Known { kind, hex } => format!("{kind} {hex}"),
            Checksum::Unchecked | Checksum::Missing => "no hash in Buildroot".to_string(),
        };
        format!(
            "{}/{}  {checksum}  {}",
            self.dl_dir,
            self.file,
            self.urls.first().map_or("no URL", String::as_str)
        )
    }
}

/// Is `d` in the download directory `dl` (as `dl/<dir>/<file>`)?
pub fn in_dl_dir(dl: &Path, d: &Download) -> bool {
    dl.join(&d.dl_dir).join(&d.file).is_file()
}

/// Every file `show-info` says the build downloads, once each (host-gcc-initial
/// and host-gcc-final share gcc's tarball), with its checksum, in the order
/// of their place in the download directory. A package with
/// a local site (`local+…`, like acalsim-kernel-modules) is copied, not
/// downloaded, so it is not listed.
pub fn list(info: &BTreeMap<String, Value>, hashes: &Hashes) -> Vec<Download> {
    let mut all: Vec<Download> = Vec::new();
    for (package, v) in info {
        let dl_dir = v["dl_dir"].as_str().unwrap_or(package);
        for d in v["downloads"].as_array().into_iter().flatten() {
            let Some(file) = d["source"].as_str() else {
                continue;
            };
            let uris: Vec<&str> = d["uris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .collect();
            let local = uris.first().is_some_and(|u| u.starts_with("local+"));
            if local || all.iter().any(|m| m.dl_dir == dl_dir && m.file == file) {
                continue;
            }
            all.push(Download {
                package: package.clone(),
                dl_dir: dl_dir.into(),
                file: file.into(),
                urls: uris
                    .iter()
                    .map(|u| format!("{}/{file}", plain_url(u).trim_end_matches('/')))
                    .collect(),
                checksum: hashes.checksum(package, file),
            });
        }
    }
    all.sort_by(|a, b| (&a.dl_dir, &a.file).cmp(&(&b.dl_dir, &b.file)));
    all
}

/// The downloads for which `present` is false.
pub fn missing(downloads: &[Download], present: impl Fn(&Download) -> bool) -> Vec<&Download> {
    downloads.iter().filter(|d| !present(d)).collect()
}

/// `https|urlencode+https://host/path` -> `https://host/path`.
fn plain_url(uri: &str) -> &str {
    uri.split_once('+').map_or(uri, |(_, url)| url)
}

/// What `cargo xtask buildroot check` prints: every download with its
/// checksum and first URL, which are already in `dl`, and what to do about
/// a file Buildroot has no hash for.
pub fn listing(downloads: &[Download], dl: &Path, present: impl Fn(&Download) -> bool) -> String {
    let have = downloads.iter().filter(|d| present(d)).count();
    let mut s = format!(
        "downloads: {} source files (make show-info), {have} already in {}; checksums from Buildroot's .hash files.\n\
         To build offline, put each file at {}/<dir>/<file> (BR2_DL_DIR selects another directory):\n",
        downloads.len(),
        dl.display(),
        dl.display()
    );
    for d in downloads {
        let mark = if present(d) { "have" } else { "need" };
        s.push_str(&format!("  {mark}  {}\n", d.line()));
    }
    s.push_str(&unhashed_note(downloads));
    s
}

/// Why a file has no hash in Buildroot, and how to pin one.
fn unhashed_note(downloads: &[Download]) -> String {
    let mut s = String::new();
    for d in downloads {
        let why = match d.checksum {
            Checksum::Known { .. } => continue,
            Checksum::Unchecked => {
                "Buildroot does not check it (a custom version, in BR_NO_CHECK_HASH_FOR)"
            }
            Checksum::Missing => "no hash file of its package lists it",
        };
        s.push_str(&format!(
            "  no hash in Buildroot: {}/{}: {why}. Verify it yourself (for a kernel: kernel.org's sha256sums.asc), \
             or pin it: a {}.hash line `sha256 <hex> {}` in a BR2_GLOBAL_PATCH_DIR directory's {}/, plus \
             BR2_DOWNLOAD_FORCE_CHECK_HASHES=y.\n",
            d.dl_dir, d.file, d.dl_dir, d.file, d.dl_dir
        ));
    }
    s
}

fn offline_message(missing: &[&Download], dl: &Path, forced: bool) -> String {
    let why = if forced {
        "--offline was given"
    } else {
        "sources.buildroot.net is not reachable from here"
    };
    let mut msg = format!(
        "{} source file(s) Buildroot needs are not in {} and {why}, so the build would fail after hours. Missing:\n",
        missing.len(),
        dl.display()
    );
    // All of them: an offline user has to fetch each one elsewhere.
    for m in missing {
        msg.push_str(&format!("  {}\n", m.line()));
    }
    msg.push_str(&format!(
        "Offline: copy them into {}/<dir>/<file> as listed (on a machine with internet, `make source` with the \
         same Buildroot and defconfig fills a dl directory; BR2_DL_DIR selects another one).",
        dl.display()
    ));
    msg
}

fn reachable(host: &str, port: u16) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(addrs) = (host, port).to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(5)).is_ok())
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::buildroot::hashes::tests::hashes;

    /// `make show-info` of Buildroot 2024.02.13 for a few of the ACALSim
    /// image's packages, trimmed to the fields the code reads.
    pub fn info() -> BTreeMap<String, Value> {
        serde_json::from_str(
            r#"{
            "python-numpy": {"type": "target", "virtual": false, "version": "1.25.0", "dl_dir": "python-numpy",
                "downloads": [{"source": "numpy-1.25.0.tar.gz", "uris": ["https+https://github.com/numpy/numpy/releases/download/v1.25.0", "https|urlencode+https://sources.buildroot.net/python-numpy"]}]},
            "host-gcc-final": {"type": "host", "virtual": false, "version": "12.4.0", "dl_dir": "gcc",
                "downloads": [{"source": "gcc-12.4.0.tar.xz", "uris": ["https+https://ftpmirror.gnu.org/gcc/gcc-12.4.0"]}]},
            "host-gcc-initial": {"type": "host", "virtual": false, "version": "12.4.0", "dl_dir": "gcc",
                "downloads": [{"source": "gcc-12.4.0.tar.xz", "uris": ["https+https://ftpmirror.gnu.org/gcc/gcc-12.4.0"]}]},
            "toolchain-buildroot": {"type": "target", "virtual": true, "version": null, "downloads": []},
            "linux": {"type": "target", "virtual": false, "version": "6.18", "dl_dir": "linux",
                "downloads": [{"source": "linux-6.18.tar.xz", "uris": ["https+https://cdn.kernel.org/pub/linux/kernel/v6.x"]}]},
            "linux-headers": {"type": "target", "virtual": false, "version": "6.6.84", "dl_dir": "linux",
                "downloads": [{"source": "linux-6.6.84.tar.xz", "uris": ["https+https://cdn.kernel.org/pub/linux/kernel/v6.x"]}]},
            "acalsim-kernel-modules": {"type": "target", "virtual": false, "version": "local", "dl_dir": "acalsim-kernel-modules",
                "downloads": [{"source": "acalsim-kernel-modules-local.tar.gz", "uris": ["local+/nonexistent/acalsim-kernel-modules-src", "https|urlencode+https://sources.buildroot.net/acalsim-kernel-modules"]}]}
        }"#,
        )
        .unwrap()
    }

    fn files(downloads: &[&Download]) -> Vec<String> {
        downloads
            .iter()
            .map(|d| format!("{}/{}", d.dl_dir, d.file))
            .collect()
    }

    #[test]
    fn each_download_is_listed_once_with_plain_urls_and_its_checksum() {
        let all = list(&info(), &hashes());
        assert_eq!(
            files(&all.iter().collect::<Vec<_>>()),
            [
                "gcc/gcc-12.4.0.tar.xz",
                "linux/linux-6.18.tar.xz",
                "linux/linux-6.6.84.tar.xz",
                "python-numpy/numpy-1.25.0.tar.gz"
            ],
            "gcc once; acalsim-kernel-modules' local site is no download"
        );
        let numpy = &all[3];
        assert_eq!(
            numpy.urls,
            [
                "https://github.com/numpy/numpy/releases/download/v1.25.0/numpy-1.25.0.tar.gz",
                "https://sources.buildroot.net/python-numpy/numpy-1.25.0.tar.gz"
            ]
        );
        assert_eq!(
            numpy.line(),
            "python-numpy/numpy-1.25.0.tar.gz  sha256 f1accae9a28d  https://github.com/numpy/numpy/releases/download/v1.25.0/numpy-1.25.0.tar.gz"
        );
        assert!(
            all[0].line().contains("  sha512 5bd29402cad2  "),
            "{}",
            all[0].line()
        );
        assert_eq!(all[1].checksum, Checksum::Unchecked);
        assert!(all[1].line().contains("  no hash in Buildroot  https://cdn.kernel.org/pub/linux/kernel/v6.x/linux-6.18.tar.xz"));
    }

    #[test]
    fn the_listing_marks_what_is_there_and_says_how_to_pin_an_unhashed_file() {
        let all = list(&info(), &hashes());
        let text = listing(&all, Path::new("/cache/dl"), |d| d.file.starts_with("gcc"));
        assert!(
            text.starts_with("downloads: 4 source files (make show-info), 1 already in /cache/dl;"),
            "{text}"
        );
        assert!(
            text.contains("\n  have  gcc/gcc-12.4.0.tar.xz  sha512 "),
            "{text}"
        );
        assert!(
            text.contains("\n  need  linux/linux-6.6.84.tar.xz  sha256 7fd20721551a  "),
            "{text}"
        );
        let note: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("  no hash in Buildroot: "))
            .collect();
        assert_eq!(note.len(), 1, "{text}");
        assert!(
            note[0].starts_with(
                "  no hash in Buildroot: linux/linux-6.18.tar.xz: Buildroot does not check it"
            ) && note[0].contains(
                "`sha256 <hex> linux-6.18.tar.xz` in a BR2_GLOBAL_PATCH_DIR directory's linux/"
            ) && note[0].contains("BR2_DOWNLOAD_FORCE_CHECK_HASHES=y"),
            "{text}"
        );
    }

    #[test]
    fn missing_downloads_are_listed_with_checksum_and_url() {
        let all = list(&info(), &hashes());
        let missing = missing(&all, |d| d.file == "linux-6.18.tar.xz");
        assert_eq!(
            files(&missing),
            [
                "gcc/gcc-12.4.0.tar.xz",
                "linux/linux-6.6.84.tar.xz",
                "python-numpy/numpy-1.25.0.tar.gz"
            ],
            "linux-6.18 present"
        );
        let msg = offline_message(&missing, Path::new("/cache/dl"), true);
        assert!(
            msg.contains("3 source file(s)") && msg.contains("--offline"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "  python-numpy/numpy-1.25.0.tar.gz  sha256 f1accae9a28d  https://github.com/"
            ),
            "{msg}"
        );
        assert!(msg.contains("/cache/dl/<dir>/<file>"), "{msg}");
    }
}
