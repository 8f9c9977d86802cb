"""ACALSim's /dev/sstN protocol, exactly as virtio-device/sst-protocol.h lays it out.

Standard library only, so it runs in any guest image. A request is one packed,
little-endian (riscv64 is little-endian, and the structs are in host byte order)
`struct SSTRequest` of 4104 bytes:

    offset  size  field
    0       4     type        (SST_REQ_*)
    4       4     flags       (reserved, 0)
    8       8     request_id  (the driver overwrites it)
    16      8     user_data   (echoed back)
    24      4080  payload     COMPUTE: u64 compute_units @24, u32 latency_model @32
                              READ/WRITE: u64 addr @24, u32 size @32
                              CONFIGURE: u32 param_id @24, u64 value @32

and a response is one packed `struct SSTResponse` of 4112 bytes:

    0       4     status      (SST_STATUS_*)
    4       4     reserved
    8       8     request_id
    16      8     user_data
    24      8     result
    32      4080  payload     COMPUTE: u64 cycles @32, u64 timestamp @40
                              GET_INFO: u32 version @32, u32 capabilities @36,
                                        u64 max_compute_units @40, u64 memory_size @48

The driver's write() sends one request and blocks (up to 5 s) for its answer;
the next read() returns that answer. ACALSim's own llama_sst_backend.py packs a
different layout; this one is the header's.
"""

import os
import struct

MAX_DATA = 4080
REQUEST_SIZE = 4104
RESPONSE_SIZE = 4112
PROTOCOL_VERSION = 0x00010000

NOOP, ECHO, COMPUTE, READ, WRITE, RESET, GET_INFO, CONFIGURE = range(8)
REQUEST_NAMES = ["NOOP", "ECHO", "COMPUTE", "READ", "WRITE", "RESET", "GET_INFO", "CONFIGURE"]

OK, ERROR, BUSY, INVALID, TIMEOUT, NO_DEVICE = range(6)
STATUS_NAMES = ["OK", "ERROR", "BUSY", "INVALID", "TIMEOUT", "NO_DEVICE"]

_HEADER = struct.Struct("<IIQQ")          # type, flags, request_id, user_data
_RESPONSE_HEADER = struct.Struct("<IIQQQ")  # status, reserved, request_id, user_data, result
assert _HEADER.size + MAX_DATA == REQUEST_SIZE
assert _RESPONSE_HEADER.size + MAX_DATA == RESPONSE_SIZE


def pack_request(kind, payload=b"", user_data=0, flags=0):
    """A 4104-byte request; `payload` is zero-padded to 4080 bytes."""
    if len(payload) > MAX_DATA:
        raise ValueError(f"payload of {len(payload)} bytes; at most {MAX_DATA}")
    return _HEADER.pack(kind, flags, 0, user_data) + payload.ljust(MAX_DATA, b"\0")


def compute_payload(units, latency_model=0):
    return struct.pack("<QII", units, latency_model, 0)


class Response:
    """A decoded 4112-byte response."""

    def __init__(self, raw):
        if len(raw) != RESPONSE_SIZE:
            raise ValueError(f"response of {len(raw)} bytes; expected {RESPONSE_SIZE}")
        (self.status, _, self.request_id, self.user_data,
         self.result) = _RESPONSE_HEADER.unpack_from(raw)
        self.payload = raw[_RESPONSE_HEADER.size:]

    @property
    def status_name(self):
        if self.status < len(STATUS_NAMES):
            return STATUS_NAMES[self.status]
        return f"status {self.status}"

    def compute(self):
        """(cycles, timestamp) of a COMPUTE answer."""
        return struct.unpack_from("<QQ", self.payload)

    def info(self):
        """(version, capabilities, max_compute_units, memory_size) of GET_INFO."""
        return struct.unpack_from("<IIQQ", self.payload)


class Device:
    """/dev/sstN, one request at a time."""

    def __init__(self, path="/dev/sst0"):
        self.path = path
        self.fd = os.open(path, os.O_RDWR)

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, kind, payload=b"", user_data=0):
        data = pack_request(kind, payload, user_data)
        written = os.write(self.fd, data)
        if written != REQUEST_SIZE:
            raise OSError(f"{self.path}: wrote {written} of {REQUEST_SIZE} bytes")
        return Response(os.read(self.fd, RESPONSE_SIZE))
