//! Buildroot's source downloads: where they are kept, which the build will
//! need that are not there, and the message that lists them for a machine
//! without internet (every file, its directory and its URLs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::Value;

use crate::cache;

/// Where Buildroot's downloads go unless BR2_DL_DIR says otherwise.
pub fn dl_dir() -> Result<PathBuf> {
    match std::env::var_os("BR2_DL_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(cache::cache_dir()?.join("buildroot/dl")),
    }
}

/// Fails unless every download `info` lists is in `dl` or Buildroot's
/// source mirror is reachable (and `offline` is not asked); returns a summary.
pub fn check(info: &BTreeMap<String, Value>, dl: &Path, offline: bool) -> Result<String> {
    let missing = missing_downloads(info, |dir, file| dl.join(dir).join(file).is_file());
    let summary = format!(
        "{} of {} source files already in {}",
        count_downloads(info) - missing.len(),
        count_downloads(info),
        dl.display()
    );
    if missing.is_empty() || (!offline && reachable("sources.buildroot.net", 443)) {
        return Ok(summary);
    }
    bail!("{}", offline_message(&missing, dl, offline))
}

/// One source file Buildroot will need and does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Missing {
    pub package: String,
    pub dl_dir: String,
    pub file: String,
    /// Where Buildroot would fetch it, first choice first.
    pub urls: Vec<String>,
}

fn count_downloads(info: &BTreeMap<String, Value>) -> usize {
    info.values()
        .map(|v| v["downloads"].as_array().map_or(0, Vec::len))
        .sum()
}

/// Every download of `show-info` for which `present(dl_dir, file)` is false.
pub fn missing_downloads(
    info: &BTreeMap<String, Value>,
    present: impl Fn(&str, &str) -> bool,
) -> Vec<Missing> {
    let mut missing = Vec::new();
    for (package, v) in info {
        let dl_dir = v["dl_dir"].as_str().unwrap_or(package);
        for d in v["downloads"].as_array().into_iter().flatten() {
            let Some(file) = d["source"].as_str() else {
                continue;
            };
            if present(dl_dir, file)
                || missing
                    .iter()
                    .any(|m: &Missing| m.dl_dir == dl_dir && m.file == file)
            {
                continue;
            }
            let urls = d["uris"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .map(|u| format!("{}/{file}", plain_url(u).trim_end_matches('/')))
                .collect();
            missing.push(Missing {
                package: package.clone(),
                dl_dir: dl_dir.into(),
                file: file.into(),
                urls,
            });
        }
    }
    missing
}

/// `https|urlencode+https://host/path` -> `https://host/path`.
fn plain_url(uri: &str) -> &str {
    uri.split_once('+').map_or(uri, |(_, url)| url)
}

fn offline_message(missing: &[Missing], dl: &Path, forced: bool) -> String {
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
        msg.push_str(&format!(
            "  {}/{}  ({})\n",
            m.dl_dir,
            m.file,
            m.urls.first().map_or("no URL", String::as_str)
        ));
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

    pub fn info() -> BTreeMap<String, Value> {
        serde_json::from_str(
            r#"{
            "python-numpy": {"type": "target", "virtual": false, "version": "1.25.0", "dl_dir": "python-numpy",
                "downloads": [{"source": "numpy-1.25.0.tar.gz", "uris": ["https+https://github.com/numpy/numpy/releases/download/v1.25.0", "https|urlencode+https://sources.buildroot.net/python-numpy"]}]},
            "host-gcc-final": {"type": "host", "virtual": false, "version": "12.4.0", "dl_dir": "gcc",
                "downloads": [{"source": "gcc-12.4.0.tar.xz", "uris": ["https+https://ftp.gnu.org/gnu/gcc/gcc-12.4.0"]}]},
            "host-gcc-initial": {"type": "host", "virtual": false, "version": "12.4.0", "dl_dir": "gcc",
                "downloads": [{"source": "gcc-12.4.0.tar.xz", "uris": ["https+https://ftp.gnu.org/gnu/gcc/gcc-12.4.0"]}]},
            "toolchain-buildroot": {"type": "target", "virtual": true, "version": null, "downloads": []},
            "linux": {"type": "target", "virtual": false, "version": "6.1.44", "dl_dir": "linux",
                "downloads": [{"source": "linux-6.1.44.tar.xz", "uris": ["https+https://cdn.kernel.org/pub/linux/kernel/v6.x"]}]}
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn missing_downloads_are_listed_once_with_plain_urls() {
        let missing = missing_downloads(&info(), |dir, file| {
            dir == "linux" && file == "linux-6.1.44.tar.xz"
        });
        let files: Vec<&str> = missing.iter().map(|m| m.file.as_str()).collect();
        assert_eq!(
            files,
            ["gcc-12.4.0.tar.xz", "numpy-1.25.0.tar.gz"],
            "gcc once, linux present"
        );
        let numpy = &missing[1];
        assert_eq!(numpy.dl_dir, "python-numpy");
        assert_eq!(
            numpy.urls,
            [
                "https://github.com/numpy/numpy/releases/download/v1.25.0/numpy-1.25.0.tar.gz",
                "https://sources.buildroot.net/python-numpy/numpy-1.25.0.tar.gz"
            ]
        );
        let msg = offline_message(&missing, Path::new("/cache/dl"), true);
        assert!(
            msg.contains("2 source file(s)") && msg.contains("--offline"),
            "{msg}"
        );
        assert!(
            msg.contains("  python-numpy/numpy-1.25.0.tar.gz  (https://github.com/"),
            "{msg}"
        );
        assert!(msg.contains("/cache/dl/<dir>/<file>"), "{msg}");
    }
}
