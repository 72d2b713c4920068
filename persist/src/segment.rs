//! On-disk layout of segments and batch records (`docs/LOG_FORMAT.md` §2–§4):
//! file names, the 64-byte segment header, the 52-byte batch header and the
//! hash-chain formula.

use crate::record::Hash;

/// First 8 bytes of every segment.
pub const MAGIC: [u8; 8] = *b"INTRSTCE";
/// The segment format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Size of the segment header in bytes.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Marker that starts every batch record, stored little-endian: the bytes on
/// disk are `43 54 41 42`, ASCII "CTAB".
pub const BATCH_MARKER: u32 = 0x4241_5443;
/// Size of the batch header in bytes.
pub const BATCH_HEADER_LEN: usize = 52;
/// The hash before the first batch of the log.
pub const GENESIS_HASH: Hash = [0; 32];
/// Suffix of segment file names.
pub const SEGMENT_SUFFIX: &str = ".log";

/// The file name of the segment whose first batch starts at `first_ts`:
/// `first_ts` as 20 decimal digits, zero-padded, then `.log`.
pub fn segment_name(first_ts: u64) -> String {
    format!("{first_ts:020}{SEGMENT_SUFFIX}")
}

/// The `first_ts` of a segment file name, or `None` if `name` is not one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Format version.
    pub version: u32,
    /// Timestamp of the segment's first batch.
    pub first_ts: u64,
    /// Hash of the last batch before this segment ([`GENESIS_HASH`] at genesis).
    pub prev_hash: Hash,
}

/// Why a segment header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer than [`SEGMENT_HEADER_LEN`] bytes.
    Short(usize),
    /// The magic bytes differ.
    BadMagic([u8; 8]),
    /// The checksum does not match (the version field is reported because a
    /// damaged header may also misstate it).
    BadChecksum {
        /// The version the damaged header declares.
        version: u32,
    },
    /// A well-formed header of another format version.
    UnsupportedVersion(u32),
    /// The reserved field is not zero.
    Reserved(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Short(n) => write!(
                f,
                "segment is {n} bytes long, shorter than its {SEGMENT_HEADER_LEN}-byte header"
            ),
            HeaderError::BadMagic(m) => {
                write!(f, "bad segment magic {:02x?} (expected \"INTRSTCE\")", m)
            }
            HeaderError::BadChecksum { version } => write!(
                f,
                "segment header checksum mismatch (header declares format version {version})"
            ),
            HeaderError::UnsupportedVersion(v) => write!(
                f,
                "unsupported format version {v} (this build reads {FORMAT_VERSION})"
            ),
            HeaderError::Reserved(v) => {
                write!(f, "segment header reserved field is {v:#x}, expected 0")
            }
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn hash_at(b: &[u8], at: usize) -> Hash {
    let mut h = [0u8; 32];
    h.copy_from_slice(&b[at..at + 32]);
    h
}

pub(crate) fn header_checksum(first56: &[u8]) -> [u8; 8] {
    let h = blake3::hash(first56);
    let mut c = [0u8; 8];
    c.copy_from_slice(&h.as_bytes()[..8]);
    c
}

impl SegmentHeader {
    /// A version-1 header.
    pub fn new(first_ts: u64, prev_hash: Hash) -> Self {
        Self {
            version: FORMAT_VERSION,
            first_ts,
            prev_hash,
        }
    }

    /// The 64 header bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        // 12..16: reserved, zero.
        b[16..24].copy_from_slice(&self.first_ts.to_le_bytes());
        b[24..56].copy_from_slice(&self.prev_hash);
        let c = header_checksum(&b[..56]);
        b[56..64].copy_from_slice(&c);
        b
    }

    /// Decodes and checks the header at the start of `data`.
    pub fn decode(data: &[u8]) -> Result<Self, HeaderError> {
        if data.len() < SEGMENT_HEADER_LEN {
            return Err(HeaderError::Short(data.len()));
        }
        let b = &data[..SEGMENT_HEADER_LEN];
        if b[0..8] != MAGIC {
            let mut m = [0u8; 8];
            m.copy_from_slice(&b[0..8]);
            return Err(HeaderError::BadMagic(m));
        }
        let version = u32_at(b, 8);
        if header_checksum(&b[..56]) != b[56..64] {
            return Err(HeaderError::BadChecksum { version });
        }
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        let reserved = u32_at(b, 12);
        if reserved != 0 {
            return Err(HeaderError::Reserved(reserved));
        }
        Ok(Self {
            version,
            first_ts: u64_at(b, 16),
            prev_hash: hash_at(b, 24),
        })
    }
}

/// A decoded batch header (not yet verified against its payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Payload length in bytes.
    pub payload_len: u32,
    /// Timestamp of the first entry.
    pub first_ts: u64,
    /// Number of entries.
    pub count: u32,
    /// The batch hash (see [`batch_hash`]).
    pub hash: Hash,
}

impl BatchHeader {
    /// The 52 header bytes.
    pub fn encode(&self) -> [u8; BATCH_HEADER_LEN] {
        let mut b = [0u8; BATCH_HEADER_LEN];
        b[0..4].copy_from_slice(&BATCH_MARKER.to_le_bytes());
        b[4..8].copy_from_slice(&self.payload_len.to_le_bytes());
        b[8..16].copy_from_slice(&self.first_ts.to_le_bytes());
        b[16..20].copy_from_slice(&self.count.to_le_bytes());
        b[20..52].copy_from_slice(&self.hash);
        b
    }

    /// Decodes the header at the start of `data`: `None` if `data` is too
    /// short, `Err(marker)` if the marker is wrong.
    pub fn decode(data: &[u8]) -> Option<Result<Self, u32>> {
        if data.len() < BATCH_HEADER_LEN {
            return None;
        }
        let marker = u32_at(data, 0);
        if marker != BATCH_MARKER {
            return Some(Err(marker));
        }
        Some(Ok(Self {
            payload_len: u32_at(data, 4),
            first_ts: u64_at(data, 8),
            count: u32_at(data, 16),
            hash: hash_at(data, 20),
        }))
    }

    /// Total record length: header plus payload.
    pub fn record_len(&self) -> u64 {
        BATCH_HEADER_LEN as u64 + u64::from(self.payload_len)
    }
}

/// The chained batch hash:
/// `blake3(prev_hash ‖ first_ts u64 LE ‖ count u32 LE ‖ payload_len u32 LE ‖ payload)`.
pub fn batch_hash(prev_hash: &Hash, first_ts: u64, count: u32, payload: &[u8]) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(prev_hash);
    h.update(&first_ts.to_le_bytes());
    h.update(&count.to_le_bytes());
    // The caller guarantees the payload fits u32 (the writer refuses larger ones).
    h.update(&(payload.len() as u32).to_le_bytes());
    h.update(payload);
    *h.finalize().as_bytes()
}
