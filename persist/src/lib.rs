//! Interstice persistence: the hash-chained commit log, storage backends, data directory.
