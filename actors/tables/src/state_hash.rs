//! The state hash: equal logged states hash equal (what `replay-check` and
//! the demo compare).

use crate::tables::Tables;

impl Tables {
    /// A blake3 hash over every logged table's rows and counters: equal
    /// states hash equal. Ephemeral tables are left out (they do not survive
    /// a restart by design).
    pub fn state_hash(&self, hasher: &mut blake3::Hasher) {
        for t in self.tables.iter().filter(|t| t.is_logged()) {
            hasher.update(t.name().as_bytes());
            hasher.update(&(t.rows.len() as u64).to_le_bytes());
            hasher.update(&t.next_auto_inc.to_le_bytes());
            for e in &t.rows {
                let (k, v) = e.parts();
                hasher.update(&(k.len() as u64).to_le_bytes());
                hasher.update(k);
                hasher.update(&(v.len() as u64).to_le_bytes());
                hasher.update(v);
            }
        }
    }
}
