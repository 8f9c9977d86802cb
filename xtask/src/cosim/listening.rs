//! Is anything listening on a Unix socket path? Read from `/proc/net/unix`
//! rather than by connecting: ACALSim's component accepts exactly one
//! client, so a probe connection would take the place meant for QEMU.
//!
//! Each line of the table is `Num RefCount Protocol Flags Type St Inode
//! Path`; a listening socket has `__SO_ACCEPTCON` (0x10000) in Flags and
//! state 01 (`SS_UNCONNECTED`), and its bound path last.

use std::path::Path;

use anyhow::{Context, Result};

const SO_ACCEPTCON: u32 = 0x0001_0000;
const SS_UNCONNECTED: &str = "01";

/// Whether `table` (the text of /proc/net/unix) has a socket listening on `path`.
pub fn listening_in(table: &str, path: &Path) -> bool {
    let wanted = path.as_os_str().as_encoded_bytes();
    table.lines().skip(1).any(|line| {
        let Some((fields, bound)) = split_fields(line) else {
            return false;
        };
        let (flags, state) = (fields[3], fields[5]);
        let accepts = u32::from_str_radix(flags, 16).is_ok_and(|f| f & SO_ACCEPTCON != 0);
        accepts && state == SS_UNCONNECTED && bound.as_bytes() == wanted
    })
}

/// The seven fixed fields and the path, which is the rest of the line and
/// may itself hold spaces; `None` for an unbound socket.
fn split_fields(line: &str) -> Option<([&str; 7], &str)> {
    let mut fields = [""; 7];
    let mut rest = line;
    for field in fields.iter_mut() {
        let (word, after) = rest.trim_start().split_once(' ')?;
        *field = word;
        rest = after;
    }
    let bound = rest.trim_start();
    (!bound.is_empty()).then_some((fields, bound))
}

/// Whether a socket on this host listens on `path` now.
pub fn listening(path: &Path) -> Result<bool> {
    let table = std::fs::read_to_string("/proc/net/unix").context("reading /proc/net/unix")?;
    Ok(listening_in(&table, path))
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::{UnixListener, UnixStream};

    use super::*;

    const TABLE: &str = "\
Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 21861 /tmp/listening.sock
0000000000000000: 00000003 00000000 00000000 0001 03 21900 /tmp/connected.sock
0000000000000000: 00000002 00000000 00000000 0002 01 17009 /tmp/dgram.sock
0000000000000000: 00000002 00000000 00010000 0001 01 17010
0000000000000000: 00000002 00000000 00010000 0001 01  1123 /tmp/with space.sock
";

    #[test]
    fn only_a_listening_stream_socket_on_the_path_counts() {
        assert!(listening_in(TABLE, Path::new("/tmp/listening.sock")));
        assert!(!listening_in(TABLE, Path::new("/tmp/connected.sock")));
        assert!(!listening_in(TABLE, Path::new("/tmp/dgram.sock")));
        assert!(!listening_in(TABLE, Path::new("/tmp/listening")));
        assert!(!listening_in(TABLE, Path::new("/tmp/other.sock")));
        assert!(listening_in(TABLE, Path::new("/tmp/with space.sock")));
    }

    #[test]
    fn a_real_listener_shows_up_and_a_client_does_not_take_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.sock");
        assert!(!listening(&path).unwrap());
        let listener = UnixListener::bind(&path).unwrap();
        assert!(listening(&path).unwrap());
        let _client = UnixStream::connect(&path).unwrap();
        let _accepted = listener.accept().unwrap();
        assert!(listening(&path).unwrap(), "the listener still listens");
        drop(listener);
        assert!(!listening(&path).unwrap());
    }
}
