//! A snapshot file's checksum: sha256 over its content in 1 MiB chunks,
//! where a chunk of zeros counts as "zero" and is never hashed.
//!
//! A `mapped-ram` state file keeps guest RAM at fixed offsets, so most of
//! its gigabytes are holes. Hashing every zero byte would add a second to
//! every restore; skipping holes with `SEEK_DATA` (and all-zero chunks, so a
//! copy that filled the holes in keeps its checksum) hashes only the data.
//! Even so, sha256 of the 600 MiB a torch guest leaves took a second, half
//! of a warm `true`: the file is hashed in 256 MiB segments, one thread per
//! core, and the checksum is sha256 over the segments' digests in order, so
//! it does not depend on how many threads computed it. The length goes in
//! too, so a truncated file never matches.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

const CHUNK: u64 = 1 << 20;
const SEGMENT: u64 = 256 * CHUNK;

/// The checksum of `path`'s content, as lowercase hex.
pub fn file(path: &Path) -> Result<String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    in_segments(path, SEGMENT, threads)
}

/// [`file`] with `segment`-byte segments hashed by `threads` threads.
fn in_segments(path: &Path, segment: u64, threads: usize) -> Result<String> {
    let len = std::fs::metadata(path)
        .with_context(|| format!("reading the size of {}", path.display()))?
        .len();
    let count = len.div_ceil(segment) as usize;
    let threads = threads.clamp(1, count.max(1));
    let mut digests = vec![Vec::new(); count];
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Result<Vec<(usize, Vec<u8>)>> {
                    let mut f =
                        File::open(path).with_context(|| format!("opening {}", path.display()))?;
                    let mut buf = vec![0u8; CHUNK as usize];
                    let zeros = vec![0u8; CHUNK as usize];
                    (t..count)
                        .step_by(threads)
                        .map(|i| {
                            let start = i as u64 * segment;
                            let end = (start + segment).min(len);
                            let digest = hash_segment(&mut f, path, start, end, &mut buf, &zeros)?;
                            Ok((i, digest))
                        })
                        .collect()
                })
            })
            .collect();
        for worker in workers {
            let done = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a checksum thread panicked"))??;
            for (i, digest) in done {
                digests[i] = digest;
            }
        }
        Ok(())
    })?;
    let mut hasher = Sha256::new();
    hasher.update(len.to_le_bytes());
    for digest in &digests {
        hasher.update(digest);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// sha256 of the data chunks in `start..end` (chunk-aligned `start`), each
/// with its index in the file.
fn hash_segment(
    f: &mut File,
    path: &Path,
    start: u64,
    end: u64,
    buf: &mut [u8],
    zeros: &[u8],
) -> Result<Vec<u8>> {
    let mut hasher = Sha256::new();
    let mut chunk_index = start / CHUNK;
    while chunk_index * CHUNK < end {
        let at = chunk_index * CHUNK;
        // The next chunk holding data: every chunk before it is a hole.
        let Some(data) = next_data(f, at) else {
            break;
        };
        if data >= at + CHUNK {
            chunk_index = data / CHUNK;
            continue;
        }
        let size = CHUNK.min(end - at) as usize;
        f.seek(SeekFrom::Start(at))
            .and_then(|_| f.read_exact(&mut buf[..size]))
            .with_context(|| format!("reading {} at {at}", path.display()))?;
        add_chunk(&mut hasher, chunk_index, &buf[..size], &zeros[..size]);
        chunk_index += 1;
    }
    Ok(hasher.finalize().to_vec())
}

/// Hashes a chunk that is not all zeros, with its index. (`zeros`, as long
/// as `bytes`: a slice comparison is a `memcmp`, fast even in the dev build
/// xtask runs as, where a byte loop took most of a restore's second.)
fn add_chunk(hasher: &mut Sha256, index: u64, bytes: &[u8], zeros: &[u8]) {
    if bytes == zeros {
        return;
    }
    hasher.update(index.to_le_bytes());
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// `lseek(SEEK_DATA)` from `offset`: where the next data is, or `None`
/// when only a hole follows. A filesystem without it reports data at once.
fn next_data(f: &File, offset: u64) -> Option<u64> {
    // SAFETY: lseek on an fd we own; it moves only that fd's offset, which
    // the caller sets again before reading.
    let at = unsafe { libc::lseek(f.as_raw_fd(), offset as libc::off_t, libc::SEEK_DATA) };
    if at >= 0 {
        return Some(at as u64);
    }
    let enxio = std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
    (!enxio).then_some(offset)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn write(path: &Path, parts: &[(u64, &[u8])], len: u64) {
        let mut f = File::create(path).unwrap();
        f.set_len(len).unwrap();
        for (at, bytes) in parts {
            f.seek(SeekFrom::Start(*at)).unwrap();
            f.write_all(bytes).unwrap();
        }
    }

    /// Overwrites bytes in place.
    fn patch(path: &Path, at: u64, bytes: &[u8]) {
        let mut f = File::options().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(bytes).unwrap();
    }

    #[test]
    fn a_sparse_file_and_its_filled_copy_agree_and_any_change_shows() {
        let dir = tempfile::tempdir().unwrap();
        let (sparse, filled) = (dir.path().join("a"), dir.path().join("b"));
        let len = 8 * CHUNK + 123;
        write(&sparse, &[(10, b"head"), (5 * CHUNK + 7, b"ram page")], len);
        let mut bytes = vec![0u8; len as usize];
        bytes[10..14].copy_from_slice(b"head");
        bytes[(5 * CHUNK + 7) as usize..(5 * CHUNK + 15) as usize].copy_from_slice(b"ram page");
        std::fs::write(&filled, &bytes).unwrap();
        let sum = file(&sparse).unwrap();
        assert_eq!(sum, file(&filled).unwrap());

        patch(&filled, 5 * CHUNK + 7, b"RAM page");
        assert_ne!(file(&filled).unwrap(), sum, "a changed byte");
        patch(&filled, 5 * CHUNK + 7, b"ram page");
        assert_eq!(file(&filled).unwrap(), sum);
        File::options()
            .write(true)
            .open(&filled)
            .unwrap()
            .set_len(len - 100)
            .unwrap();
        assert_ne!(
            file(&filled).unwrap(),
            sum,
            "truncated in the zeros at the end"
        );
    }

    #[test]
    fn segments_and_threads_do_not_change_the_checksum_but_any_segments_data_does() {
        let dir = tempfile::tempdir().unwrap();
        let (sparse, filled) = (dir.path().join("a"), dir.path().join("b"));
        let len = 7 * CHUNK + 5;
        let parts: [(u64, &[u8]); 3] = [(3, b"one"), (4 * CHUNK + 1, b"two"), (7 * CHUNK, b"end")];
        write(&sparse, &parts, len);
        let mut bytes = vec![0u8; len as usize];
        for (at, part) in parts {
            bytes[at as usize..at as usize + part.len()].copy_from_slice(part);
        }
        std::fs::write(&filled, &bytes).unwrap();
        let sum = in_segments(&sparse, 2 * CHUNK, 1).unwrap();
        for threads in [2, 3, 8] {
            assert_eq!(in_segments(&sparse, 2 * CHUNK, threads).unwrap(), sum);
            assert_eq!(in_segments(&filled, 2 * CHUNK, threads).unwrap(), sum);
        }
        patch(&filled, 7 * CHUNK, b"END");
        assert_ne!(
            in_segments(&filled, 2 * CHUNK, 2).unwrap(),
            sum,
            "the last segment"
        );
        let empty = dir.path().join("empty");
        File::create(&empty).unwrap();
        assert_ne!(in_segments(&empty, 2 * CHUNK, 2).unwrap(), sum);
    }

    #[test]
    fn data_moved_to_another_chunk_changes_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        write(&a, &[(CHUNK, b"x")], 4 * CHUNK);
        write(&b, &[(2 * CHUNK, b"x")], 4 * CHUNK);
        assert_ne!(file(&a).unwrap(), file(&b).unwrap());
        assert!(file(&dir.path().join("missing")).is_err());
    }
}
