//! The state hash: equal logged states hash equal (what `replay-check` and
//! the demo compare). Rows are hashed as their canonical bytes, so a
//! columnar table hashes as the same rows stored row by row.

use crate::tables::Tables;

impl Tables {
    /// A blake3 hash over every logged table's rows and counters: equal
    /// states hash equal. Ephemeral tables are left out (they do not survive
    /// a restart by design).
    pub fn state_hash(&self, hasher: &mut blake3::Hasher) {
        for t in self.tables.iter().filter(|t| t.is_logged()) {
            hasher.update(t.name().as_bytes());
            hasher.update(&(t.len() as u64).to_le_bytes());
            hasher.update(&t.next_auto_inc.to_le_bytes());
            let mut buf = Vec::new();
            for (k, v) in t.store.iter() {
                let v = v.bytes(&mut buf);
                hasher.update(&(k.len() as u64).to_le_bytes());
                hasher.update(k);
                hasher.update(&(v.len() as u64).to_le_bytes());
                hasher.update(v);
            }
        }
    }
}
