//! Parsing one batch record, and the two halves of the torn-tail rule
//! (`docs/LOG_FORMAT.md` §6): could a torn write have left this bad record
//! ([`torn_write_explains`]), and is anything valid after it
//! ([`find_following_batch`])?

use interstice_abi::cbor::Reader;

use crate::record::Hash;
use crate::record_ref::{decode_entry_ref, LogEntryRef};
use crate::segment::{batch_hash, BatchHeader, BATCH_HEADER_LEN, BATCH_MARKER};
use crate::storage::TORN_WRITE_SECTOR;

/// Decodes the `count` entries of a payload and checks their timestamps are
/// `first_ts, first_ts + 1, …`. The entries borrow from `payload`. On
/// error: the timestamp concerned and why.
pub(crate) fn decode_payload(
    payload: &[u8],
    first_ts: u64,
    count: u32,
) -> Result<Vec<LogEntryRef<'_>>, (u64, String)> {
    let mut r = Reader::new(payload);
    let mut entries = Vec::with_capacity((count as usize).min(1024));
    for i in 0..count {
        let ts = first_ts.saturating_add(u64::from(i));
        let start = r.position();
        let e = decode_entry_ref(&mut r)
            .map_err(|e| (ts, format!("entry {i} (at payload byte {start}): {e}")))?;
        if e.ts() != ts {
            return Err((
                ts,
                format!(
                    "entry {i} (at payload byte {start}) has timestamp {}, expected {ts}",
                    e.ts()
                ),
            ));
        }
        entries.push(e);
    }
    if !r.is_at_end() {
        return Err((
            first_ts,
            format!(
                "{} bytes left in the payload after its {count} entries",
                payload.len() - r.position()
            ),
        ));
    }
    Ok(entries)
}

/// A complete batch record whose hash was verified (or could not be, when
/// the chain is unanchored in check mode).
pub(crate) struct RawBatch<'a> {
    pub(crate) header: BatchHeader,
    pub(crate) payload: &'a [u8],
}

/// Why a record could not be verified; the header, if its marker was right.
pub(crate) struct BadRecord {
    pub(crate) header: Option<BatchHeader>,
    pub(crate) kind: BadKind,
    pub(crate) reason: String,
}

/// What is wrong with a [`BadRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadKind {
    /// The file ends inside the batch header.
    ShortHeader,
    /// The file ends inside the payload the header declares.
    ShortPayload,
    /// The header is there but its marker is wrong.
    BadMarker,
    /// The record is complete and declares 0 entries.
    ZeroCount,
    /// The record is complete and its hash does not verify.
    HashMismatch,
}

/// Parses the batch record at `at`, verifying its hash against `prev`
/// (skipped when `prev` is `None`: the chain is unknown in check mode).
pub(crate) fn parse_record<'a>(
    data: &'a [u8],
    at: usize,
    prev: Option<&Hash>,
) -> Result<RawBatch<'a>, BadRecord> {
    let rest = &data[at..];
    let header = match BatchHeader::decode(rest) {
        None => {
            return Err(BadRecord {
                header: None,
                kind: BadKind::ShortHeader,
                reason: format!(
                    "file ends inside a batch header ({} of {BATCH_HEADER_LEN} bytes)",
                    rest.len()
                ),
            })
        }
        Some(Err(marker)) => {
            return Err(BadRecord {
                header: None,
                kind: BadKind::BadMarker,
                reason: format!(
                    "bad batch marker {marker:#010x} (expected {BATCH_MARKER:#010x}, \"CTAB\")"
                ),
            })
        }
        Some(Ok(h)) => h,
    };
    let bad = |kind: BadKind, reason: String| BadRecord {
        header: Some(header),
        kind,
        reason,
    };
    let avail = (rest.len() - BATCH_HEADER_LEN) as u64;
    if u64::from(header.payload_len) > avail {
        return Err(bad(
            BadKind::ShortPayload,
            format!(
                "file ends inside a batch payload ({avail} of {} bytes)",
                header.payload_len
            ),
        ));
    }
    if header.count == 0 {
        return Err(bad(BadKind::ZeroCount, "batch declares 0 entries".into()));
    }
    let payload = &rest[BATCH_HEADER_LEN..BATCH_HEADER_LEN + header.payload_len as usize];
    if let Some(prev) = prev {
        if batch_hash(prev, header.first_ts, header.count, payload) != header.hash {
            return Err(bad(
                BadKind::HashMismatch,
                "batch hash mismatch (the record is damaged or the chain is broken)".into(),
            ));
        }
    }
    Ok(RawBatch { header, payload })
}

/// Whether a torn write — a crash while the record was being written — can
/// have left the bad record at `at`, the last thing in `data` (a whole
/// segment file), assuming nothing valid follows it. `Ok` says how;
/// `Err` says why not (the record is then corruption).
///
/// A crash leaves a prefix of what was being appended, whose end may read
/// back as zeros from a [`TORN_WRITE_SECTOR`] boundary or from where the
/// record starts (the file grew, the data never landed). So:
///
/// - a record the file ends inside is torn, unless its stored hash
///   verifies over exactly the bytes that are there (then its length
///   field is what is damaged);
/// - a record with a wrong marker is torn (a crash can leave any bytes
///   where no record was written yet, on a file system that exposes stale
///   blocks), unless the rest of it is a complete batch that verifies
///   (then the marker is what is damaged);
/// - a complete record with the right marker that declares 0 entries or
///   fails its hash is torn only if the file is all zeros from a point
///   inside the record that is the record's start or a sector boundary,
///   to its end. Anything else is a complete, written batch that is
///   damaged: never cut.
pub(crate) fn torn_write_explains(
    data: &[u8],
    at: usize,
    bad: &BadRecord,
    prev: Option<&Hash>,
) -> Result<String, String> {
    match (bad.kind, &bad.header) {
        (BadKind::ShortHeader, _) => Ok(bad.reason.clone()),
        (BadKind::ShortPayload, Some(h)) => {
            let payload = &data[at + BATCH_HEADER_LEN..];
            match prev {
                Some(prev) if batch_hash(prev, h.first_ts, h.count, payload) == h.hash => {
                    Err(format!(
                        "{}, but the record's hash verifies over the {} bytes there: its length \
                     field is damaged, this is not a torn write",
                        bad.reason,
                        payload.len()
                    ))
                }
                _ => Ok(bad.reason.clone()),
            }
        }
        (BadKind::BadMarker, _) => match verifies_with_marker(data, at, prev) {
            Some(len) => Err(format!(
                "{}, but the {len}-byte batch behind it verifies: its marker is damaged, this \
                 is not a torn write",
                bad.reason
            )),
            None => Ok(bad.reason.clone()),
        },
        (_, header) => {
            let end = at + header.map_or(BATCH_HEADER_LEN as u64, |h| h.record_len()) as usize;
            match zero_fill_start(data, at) {
                Some(z) if z < end => Ok(format!(
                    "{}; the file is zero-filled from byte {z} to its end (a write that never \
                     landed)",
                    bad.reason
                )),
                _ => Err(format!(
                    "{}; the record is complete and not zero-filled, so this is not a torn \
                     write but a damaged batch (`interstice check-log --repair` moves it aside)",
                    bad.reason
                )),
            }
        }
    }
}

/// If the record at `at` (whose marker is wrong) is, with the right marker,
/// a complete batch whose hash verifies from `prev`: its length.
fn verifies_with_marker(data: &[u8], at: usize, prev: Option<&Hash>) -> Option<u64> {
    let mut head = data.get(at..at + BATCH_HEADER_LEN)?.to_vec();
    head[..4].copy_from_slice(&BATCH_MARKER.to_le_bytes());
    let h = BatchHeader::decode(&head)?.ok()?;
    let end = at.checked_add(usize::try_from(h.record_len()).ok()?)?;
    let payload = data.get(at + BATCH_HEADER_LEN..end)?;
    (h.count > 0 && batch_hash(prev?, h.first_ts, h.count, payload) == h.hash)
        .then_some(h.record_len())
}

/// Where a zero fill that a torn write can leave starts in `data` (a whole
/// file), for a bad record at `at`: the first offset, at `at` or a
/// [`TORN_WRITE_SECTOR`] boundary after it, from which every byte to the
/// end is zero. `None` if there is none before the end.
fn zero_fill_start(data: &[u8], at: usize) -> Option<usize> {
    let zeros_from = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let z = if zeros_from <= at {
        at
    } else {
        zeros_from.next_multiple_of(TORN_WRITE_SECTOR as usize)
    };
    (z < data.len()).then_some(z)
}

/// Where the next trustworthy batch after a bad record starts, if any.
pub(crate) struct Resync {
    pub(crate) offset: usize,
    /// The hash it chains from, when that was established.
    pub(crate) prev: Option<Hash>,
}

/// Looks for a valid batch after the bad record at `bad_at`.
///
/// If the bad record's marker was intact, only batches whose hash chains
/// from the bad record (its stored hash, or the hash its bytes compute to)
/// count: so bytes inside its own payload can never pass for a following
/// batch. Otherwise any position holding a complete batch whose entries
/// decode with consecutive timestamps, not before `min_ts`, counts.
pub(crate) fn find_following_batch(
    data: &[u8],
    bad_at: usize,
    bad: &BadRecord,
    prev: Option<&Hash>,
    min_ts: Option<u64>,
) -> Option<Resync> {
    let marker = BATCH_MARKER.to_le_bytes();
    let mut prevs: Vec<Hash> = Vec::new();
    let from = match &bad.header {
        Some(h) => {
            prevs.push(h.hash);
            let end = (bad_at as u64).saturating_add(h.record_len());
            if let (Some(prev), true) = (prev, end <= data.len() as u64) {
                let payload = &data[bad_at + BATCH_HEADER_LEN..end as usize];
                prevs.push(batch_hash(prev, h.first_ts, h.count, payload));
            }
            bad_at + BATCH_HEADER_LEN
        }
        None => bad_at + 1,
    };
    let last_start = data.len().checked_sub(BATCH_HEADER_LEN)?;
    let mut p = from;
    while p <= last_start {
        let rel = data[p..].windows(4).position(|w| w == marker)?;
        p += rel;
        if p > last_start {
            return None;
        }
        if let Some(Ok(h)) = BatchHeader::decode(&data[p..]) {
            let end = (p as u64).saturating_add(h.record_len());
            if h.count > 0 && end <= data.len() as u64 {
                let payload = &data[p + BATCH_HEADER_LEN..end as usize];
                if bad.header.is_some() {
                    if let Some(found) = prevs
                        .iter()
                        .find(|pv| batch_hash(pv, h.first_ts, h.count, payload) == h.hash)
                    {
                        return Some(Resync {
                            offset: p,
                            prev: Some(*found),
                        });
                    }
                } else if min_ts.is_none_or(|t| h.first_ts >= t)
                    && decode_payload(payload, h.first_ts, h.count).is_ok()
                {
                    return Some(Resync {
                        offset: p,
                        prev: None,
                    });
                }
            }
        }
        p += 1;
    }
    None
}
