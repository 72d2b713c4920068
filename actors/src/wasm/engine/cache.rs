//! The compiled-module cache file, `cache/<blake3 hex of the wasm>.cwasm`
//! (`docs/LOG_FORMAT.md` §9.1): wasmtime's serialized module behind a
//! header that names what it was compiled from — the wasm's blake3 and a
//! fingerprint of the engine (wasmtime version and compilation settings) —
//! and the blake3 of the serialized bytes. Everything is checked before the
//! bytes reach `Module::deserialize` (which trusts them: it maps them as
//! executable code); any mismatch is a [`Reject`] and the module is
//! compiled again. The file is read into memory once, so what was verified
//! is what is loaded.

use std::fmt;
use std::hash::{Hash as _, Hasher};
use std::io;
use std::path::Path;

use interstice_persist::{safe_fs, Hash};
use wasmtime::Engine;

/// File magic: ASCII `INTRCWSM`.
pub(crate) const MAGIC: [u8; 8] = *b"INTRCWSM";
/// The header version this build writes and reads.
pub(crate) const VERSION: u32 = 1;
/// Header length; the serialized module follows.
pub(crate) const HEADER_LEN: usize = 120;
/// The largest serialized module accepted (a bound on what is read).
const MAX_BODY: u64 = 1 << 30;
/// Domain separation of the engine fingerprint.
const FINGERPRINT_DOMAIN: &[u8] = b"interstice cwasm engine v1\0";

/// Why a cache file was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Shorter than the header.
    Short(usize),
    /// Not `INTRCWSM`.
    Magic,
    /// Another header version.
    Version(u32),
    /// The reserved field is not zero.
    Reserved,
    /// Compiled from another wasm binary.
    OtherModule,
    /// Compiled by another engine (wasmtime version or settings).
    OtherEngine,
    /// The declared body length is not what follows the header.
    Length {
        /// What the header says.
        declared: u64,
        /// What the file holds.
        actual: u64,
    },
    /// The serialized bytes do not hash to what the header records.
    BodyHash,
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reject::Short(n) => write!(
                f,
                "the file is {n} bytes, shorter than its {HEADER_LEN}-byte header"
            ),
            Reject::Magic => write!(f, "bad magic (not an Interstice compiled-module file)"),
            Reject::Version(v) => write!(f, "header version {v}, this build reads {VERSION}"),
            Reject::Reserved => write!(f, "the reserved header field is not zero"),
            Reject::OtherModule => write!(f, "it was compiled from another module binary"),
            Reject::OtherEngine => write!(
                f,
                "it was compiled by another engine (wasmtime version or configuration)"
            ),
            Reject::Length { declared, actual } => write!(
                f,
                "its header declares {declared} bytes of compiled code, the file holds {actual}"
            ),
            Reject::BodyHash => write!(f, "the compiled code does not match its checksum"),
        }
    }
}

/// Feeds what `std::hash::Hash` writes into blake3.
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let h = self.0.finalize();
        u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
    }
}

/// The engine fingerprint: blake3 of a domain string and of everything
/// `Engine::precompile_compatibility_hash` hashes (the wasmtime version, the
/// target and its CPU features, the compiler flags, the tunables and wasm
/// features of the configuration).
pub(crate) fn engine_fingerprint(engine: &Engine) -> Hash {
    let mut h = Blake3Hasher(blake3::Hasher::new());
    h.0.update(FINGERPRINT_DOMAIN);
    engine.precompile_compatibility_hash().hash(&mut h);
    *h.0.finalize().as_bytes()
}

/// A cache file: header, then `body` (wasmtime's serialized module).
pub(crate) fn encode(wasm_hash: &Hash, fingerprint: &Hash, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(wasm_hash);
    out.extend_from_slice(fingerprint);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks a cache file against the wasm it must have been compiled from and
/// the engine that will load it; returns the serialized module.
pub(crate) fn verify<'a>(
    file: &'a [u8],
    wasm_hash: &Hash,
    fingerprint: &Hash,
) -> Result<&'a [u8], Reject> {
    if file.len() < HEADER_LEN {
        return Err(Reject::Short(file.len()));
    }
    let (header, body) = file.split_at(HEADER_LEN);
    let u32_at = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    if header[..8] != MAGIC {
        return Err(Reject::Magic);
    }
    if u32_at(8) != VERSION {
        return Err(Reject::Version(u32_at(8)));
    }
    if u32_at(12) != 0 {
        return Err(Reject::Reserved);
    }
    if header[16..48] != wasm_hash[..] {
        return Err(Reject::OtherModule);
    }
    if header[48..80] != fingerprint[..] {
        return Err(Reject::OtherEngine);
    }
    let declared = u64::from_le_bytes(header[80..88].try_into().expect("8 bytes"));
    if declared != body.len() as u64 {
        return Err(Reject::Length {
            declared,
            actual: body.len() as u64,
        });
    }
    if blake3::hash(body).as_bytes()[..] != header[88..120] {
        return Err(Reject::BodyHash);
    }
    Ok(body)
}

/// Reads a cache file without following a symlink; `None` if there is
/// none. A file larger than any compiled module is refused unread.
pub(crate) fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
        Ok(m) if m.len() > MAX_BODY + HEADER_LEN as u64 => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} bytes, more than any compiled module", m.len()),
            ))
        }
        Ok(_) => {}
    }
    safe_fs::read(path).map(Some)
}

/// Writes a cache file atomically: a new `.<name>.tmp` (`O_EXCL`, no
/// symlink followed), fsync, rename over `<name>`, directory fsync.
pub(crate) fn write(path: &Path, file: &[u8]) -> io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        ));
    };
    let name = name.to_string_lossy();
    safe_fs::write_atomically(dir, &format!(".{name}.tmp"), &name, file)
}

#[cfg(test)]
mod tests;
