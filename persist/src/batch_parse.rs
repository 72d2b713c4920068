//! Parsing one batch record, and looking for a valid batch after a bad one
//! (the "is anything valid after it?" half of the torn-tail rule,
//! `docs/LOG_FORMAT.md` §6).

use interstice_abi::cbor::Reader;

use crate::record::Hash;
use crate::record_ref::{decode_entry_ref, LogEntryRef};
use crate::segment::{batch_hash, BatchHeader, BATCH_HEADER_LEN, BATCH_MARKER};

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
    pub(crate) reason: String,
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
                reason: format!(
                    "file ends inside a batch header ({} of {BATCH_HEADER_LEN} bytes)",
                    rest.len()
                ),
            })
        }
        Some(Err(marker)) => {
            return Err(BadRecord {
                header: None,
                reason: format!(
                    "bad batch marker {marker:#010x} (expected {BATCH_MARKER:#010x}, \"CTAB\")"
                ),
            })
        }
        Some(Ok(h)) => h,
    };
    let bad = |reason: String| BadRecord {
        header: Some(header),
        reason,
    };
    if header.count == 0 {
        return Err(bad("batch declares 0 entries".into()));
    }
    let avail = (rest.len() - BATCH_HEADER_LEN) as u64;
    if u64::from(header.payload_len) > avail {
        return Err(bad(format!(
            "file ends inside a batch payload ({avail} of {} bytes)",
            header.payload_len
        )));
    }
    let payload = &rest[BATCH_HEADER_LEN..BATCH_HEADER_LEN + header.payload_len as usize];
    if let Some(prev) = prev {
        if batch_hash(prev, header.first_ts, header.count, payload) != header.hash {
            return Err(bad(
                "batch hash mismatch (the record is damaged or the chain is broken)".into(),
            ));
        }
    }
    Ok(RawBatch { header, payload })
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
