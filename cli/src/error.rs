//! The CLI's error type and exit codes.

use interstice_actors::RuntimeError;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// Wrong arguments (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Building a guest module failed.
    #[error("build failed: {0}")]
    Build(String),
    /// The runtime refused or failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The log or the data directory (`check-log`).
    #[error(transparent)]
    Persist(#[from] interstice_persist::PersistError),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// An I/O error on the terminal or a pipe.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The demo's own checks failed.
    #[error("demo check failed: {0}")]
    Demo(String),
    /// A check ran and found a problem; its report is on stdout (exit code 1).
    #[error("{0}")]
    CheckFailed(String),
    /// A command whose exit code carries its result (`schema-diff`,
    /// `load --dry-run`: 1 needs migration, 2 breaking); the report is on
    /// stdout, the message says what the code means.
    #[error("{message}")]
    Verdict {
        /// The exit code.
        code: i32,
        /// What it means.
        message: String,
    },
    /// An input a command cannot use when its exit codes 1 and 2 carry
    /// results (`schema-diff`): exit code 3.
    #[error("{0}")]
    Input(String),
    /// The HTTP server could not start (`run --listen`).
    #[error("server: {0}")]
    Server(String),
    /// An access-token file or the server's address file is unsafe or
    /// damaged (`run --listen`, `token rotate`, the CLI through a server).
    #[error("{path} {reason}")]
    Token {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A running server refused a request of the CLI (`server::client`):
    /// its error kind and message.
    #[error("{message}")]
    Remote {
        /// The error's kind (`docs/PROTOCOL.md` §6).
        kind: String,
        /// The server's message.
        message: String,
    },
    /// A benchmark could not run or its own checks failed.
    #[error("bench: {0}")]
    Bench(String),
    /// A backup could not be taken, or its copy did not verify (`backup`);
    /// nothing was left at `DEST`.
    #[error("backup: {0}")]
    Backup(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Verdict { code, .. } => *code,
            CliError::Input(_) => 3,
            CliError::Runtime(RuntimeError::Reducer { .. }) => 1,
            CliError::Runtime(
                RuntimeError::UnknownModule(_)
                | RuntimeError::UnknownReducer { .. }
                | RuntimeError::ArgCount { .. }
                | RuntimeError::ArgType { .. }
                | RuntimeError::WrongMode { .. },
            ) => 2,
            CliError::Remote { kind, .. } => match kind.as_str() {
                "UnknownModule" | "UnknownReducer" | "BadArguments" | "WrongMode" => 2,
                _ => 1,
            },
            _ => 1,
        }
    }
}

/// Reads a file, naming it in the error.
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|source| CliError::File {
        path: path.display().to_string(),
        source,
    })
}
