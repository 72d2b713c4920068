//! The Interstice runtime: module, sequencer, log-writer and subscription-router actors, and the embedding API.
