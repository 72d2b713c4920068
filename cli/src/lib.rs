//! The interstice command-line tool.
