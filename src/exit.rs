//! Exit codes, the contract with scripts that run verify-release.

/// What the process tells its caller. A mismatch is a result, not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Exit {
    /// Authentic, and identical when rebuilt or compared.
    Verified = 0,
    /// The rebuilt (or second) image differs.
    Differs = 1,
    /// The command line was wrong.
    Usage = 2,
    /// Bad or missing signature, wrong signer, checksum or size mismatch, bad tag.
    Authenticity = 3,
    /// Could not complete: network, missing prerequisite, build failure, I/O.
    Incomplete = 4,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}

/// Implemented by every stage's error type: which exit code the failure maps to.
pub trait Failure: std::error::Error {
    fn exit(&self) -> Exit;
}
