//! ACALSim's socket protocol between QEMU's `virtio-sst-device` and the SST
//! side, exactly as `virtio-device/sst-protocol.h` lays it out: one packed,
//! little-endian `struct SSTRequest` of 4104 bytes in, one packed
//! `struct SSTResponse` of 4112 bytes back.
//!
//! Request (offsets in bytes):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `type` (`SST_REQ_*`) |
//! | 4 | 4 | `flags` (reserved) |
//! | 8 | 8 | `request_id` (the guest driver numbers them from 1) |
//! | 16 | 8 | `user_data` (opaque, echoed back) |
//! | 24 | 4080 | payload: COMPUTE `compute_units` u64 @24, `latency_model` u32 @32; READ/WRITE `addr` u64 @24, `size` u32 @32; CONFIGURE `param_id` u32 @24, `value` u64 @32 |
//!
//! Response:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | `status` (`SST_STATUS_*`) |
//! | 4 | 4 | reserved |
//! | 8 | 8 | `request_id` |
//! | 16 | 8 | `user_data` |
//! | 24 | 8 | `result` |
//! | 32 | 4080 | payload: COMPUTE `cycles` u64 @32, `timestamp` u64 @40; GET_INFO `version` u32 @32, `capabilities` u32 @36, `max_compute_units` u64 @40, `memory_size` u64 @48 |
//!
//! QEMU's device answers NOOP, ECHO, GET_INFO and RESET itself and forwards
//! COMPUTE, READ, WRITE and CONFIGURE over the socket, writing each request
//! whole and reading the answer with one `read()` of 4112 bytes.

/// ACALSim's component answers a COMPUTE with `compute_units * 100` cycles.
pub const COMPONENT_CYCLES_PER_UNIT: u64 = 100;

/// `SST_MAX_DATA_SIZE`: the payload union's size.
pub const MAX_DATA: usize = 4080;
/// `sizeof(struct SSTRequest)`.
pub const REQUEST_SIZE: usize = 24 + MAX_DATA;
/// `sizeof(struct SSTResponse)`.
pub const RESPONSE_SIZE: usize = 32 + MAX_DATA;

/// `enum SSTRequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Noop,
    Echo,
    Compute,
    Read,
    Write,
    Reset,
    GetInfo,
    Configure,
    /// A type the header does not define.
    Unknown(u32),
}

impl Kind {
    pub fn from_u32(value: u32) -> Kind {
        match value {
            0 => Kind::Noop,
            1 => Kind::Echo,
            2 => Kind::Compute,
            3 => Kind::Read,
            4 => Kind::Write,
            5 => Kind::Reset,
            6 => Kind::GetInfo,
            7 => Kind::Configure,
            other => Kind::Unknown(other),
        }
    }

    pub fn to_u32(self) -> u32 {
        match self {
            Kind::Noop => 0,
            Kind::Echo => 1,
            Kind::Compute => 2,
            Kind::Read => 3,
            Kind::Write => 4,
            Kind::Reset => 5,
            Kind::GetInfo => 6,
            Kind::Configure => 7,
            Kind::Unknown(other) => other,
        }
    }

    /// `sst_request_type_str()`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Noop => "NOOP",
            Kind::Echo => "ECHO",
            Kind::Compute => "COMPUTE",
            Kind::Read => "READ",
            Kind::Write => "WRITE",
            Kind::Reset => "RESET",
            Kind::GetInfo => "GET_INFO",
            Kind::Configure => "CONFIGURE",
            Kind::Unknown(_) => "UNKNOWN",
        }
    }
}

/// `enum SSTStatus`: all of it, though the peer answers only OK and
/// INVALID (QEMU's device sets NO_DEVICE and ERROR itself).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 0,
    Error = 1,
    Busy = 2,
    Invalid = 3,
    Timeout = 4,
    NoDevice = 5,
}

impl Status {
    /// `sst_status_str()`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "ERROR",
            Status::Busy => "BUSY",
            Status::Invalid => "INVALID",
            Status::Timeout => "TIMEOUT",
            Status::NoDevice => "NO_DEVICE",
        }
    }
}

/// A decoded `struct SSTRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    pub flags: u32,
    pub request_id: u64,
    pub user_data: u64,
    pub payload: Box<[u8; MAX_DATA]>,
}

impl Request {
    pub fn decode(bytes: &[u8; REQUEST_SIZE]) -> Request {
        let mut payload = Box::new([0u8; MAX_DATA]);
        payload.copy_from_slice(&bytes[24..]);
        Request {
            kind: Kind::from_u32(u32_at(bytes, 0)),
            flags: u32_at(bytes, 4),
            request_id: u64_at(bytes, 8),
            user_data: u64_at(bytes, 16),
            payload,
        }
    }

    /// The same bytes QEMU's device writes.
    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        let kind = self.kind.to_u32();
        let mut out = Vec::with_capacity(REQUEST_SIZE);
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.request_id.to_le_bytes());
        out.extend_from_slice(&self.user_data.to_le_bytes());
        out.extend_from_slice(&self.payload[..]);
        out
    }

    /// COMPUTE's `compute_units` (payload offset 0, request offset 24).
    pub fn compute_units(&self) -> u64 {
        u64_at(&self.payload[..], 0)
    }

    /// COMPUTE's `latency_model` (request offset 32).
    pub fn latency_model(&self) -> u32 {
        u32_at(&self.payload[..], 8)
    }
}

/// A `struct SSTResponse` to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    pub request_id: u64,
    pub user_data: u64,
    pub result: u64,
    pub payload: Box<[u8; MAX_DATA]>,
}

impl Response {
    /// An answer to `request` with `status`, an empty payload and result 0.
    pub fn to(request: &Request, status: Status) -> Response {
        Response {
            status,
            request_id: request.request_id,
            user_data: request.user_data,
            result: 0,
            payload: Box::new([0u8; MAX_DATA]),
        }
    }

    /// COMPUTE's answer fields: `cycles` @32 and `timestamp` @40.
    pub fn set_compute(&mut self, cycles: u64, timestamp: u64) {
        self.payload[0..8].copy_from_slice(&cycles.to_le_bytes());
        self.payload[8..16].copy_from_slice(&timestamp.to_le_bytes());
    }

    pub fn encode(&self) -> [u8; RESPONSE_SIZE] {
        let mut out = [0u8; RESPONSE_SIZE];
        out[0..4].copy_from_slice(&(self.status as u32).to_le_bytes());
        out[8..16].copy_from_slice(&self.request_id.to_le_bytes());
        out[16..24].copy_from_slice(&self.user_data.to_le_bytes());
        out[24..32].copy_from_slice(&self.result.to_le_bytes());
        out[32..].copy_from_slice(&self.payload[..]);
        out
    }
}

fn u32_at(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], offset: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request whose every byte is its offset's low byte, so a field read
    /// from the wrong offset shows which one it read.
    fn patterned() -> [u8; REQUEST_SIZE] {
        let mut bytes = [0u8; REQUEST_SIZE];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = i as u8;
        }
        bytes
    }

    #[test]
    fn the_sizes_are_the_headers_packed_structs() {
        assert_eq!(REQUEST_SIZE, 4104);
        assert_eq!(RESPONSE_SIZE, 4112);
    }

    #[test]
    fn request_fields_sit_at_the_headers_offsets() {
        let mut bytes = patterned();
        let r = Request::decode(&bytes);
        assert_eq!(r.kind, Kind::Unknown(0x0302_0100), "type @0");
        assert_eq!(r.flags, 0x0706_0504, "flags @4");
        assert_eq!(r.request_id, 0x0f0e_0d0c_0b0a_0908, "request_id @8");
        assert_eq!(r.user_data, 0x1716_1514_1312_1110, "user_data @16");
        assert_eq!(
            r.compute_units(),
            0x1f1e_1d1c_1b1a_1918,
            "compute_units @24"
        );
        assert_eq!(r.latency_model(), 0x2322_2120, "latency_model @32");
        assert_eq!(r.payload[MAX_DATA - 1], (REQUEST_SIZE - 1) as u8);
        assert_eq!(r.encode(), bytes.to_vec(), "encode is decode's inverse");

        bytes[0..4].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(Request::decode(&bytes).kind, Kind::Compute);
    }

    #[test]
    fn response_fields_sit_at_the_headers_offsets() {
        let request = Request::decode(&patterned());
        let mut r = Response::to(&request, Status::Invalid);
        r.result = 0x1122_3344_5566_7788;
        r.set_compute(0xaaaa_bbbb_cccc_dddd, 0x0102_0304_0506_0708);
        let bytes = r.encode();
        assert_eq!(bytes[0..4], 3u32.to_le_bytes(), "status @0");
        assert_eq!(bytes[4..8], [0; 4], "reserved @4");
        assert_eq!(
            bytes[8..16],
            request.request_id.to_le_bytes(),
            "request_id @8"
        );
        assert_eq!(
            bytes[16..24],
            request.user_data.to_le_bytes(),
            "user_data @16"
        );
        assert_eq!(bytes[24..32], r.result.to_le_bytes(), "result @24");
        assert_eq!(
            bytes[32..40],
            0xaaaa_bbbb_cccc_ddddu64.to_le_bytes(),
            "cycles @32"
        );
        assert_eq!(
            bytes[40..48],
            0x0102_0304_0506_0708u64.to_le_bytes(),
            "timestamp @40"
        );
        assert!(
            bytes[48..].iter().all(|&b| b == 0),
            "the rest of the payload is zero"
        );
    }

    #[test]
    fn every_header_type_and_status_has_its_name() {
        let names: Vec<_> = (0..9).map(|v| Kind::from_u32(v).name()).collect();
        assert_eq!(
            names,
            [
                "NOOP",
                "ECHO",
                "COMPUTE",
                "READ",
                "WRITE",
                "RESET",
                "GET_INFO",
                "CONFIGURE",
                "UNKNOWN"
            ]
        );
        for v in 0..9 {
            assert_eq!(Kind::from_u32(v).to_u32(), v);
        }
        assert_eq!(Status::NoDevice as u32, 5);
        assert_eq!(Status::NoDevice.name(), "NO_DEVICE");
    }
}
