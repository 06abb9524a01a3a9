//! How a command ends when it does not succeed, and the exit status each way maps to: bad
//! input is 2 (one line on stderr, before anything ran or was written), a failure while
//! running or writing is 1, and an outcome already reported (a regression `compare` found,
//! an interrupted matrix) exits with its own status and says nothing more.

use std::process::ExitCode;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A wrong flag, a value out of range, a malformed file: exit status 2.
    BadInput(String),
    /// Something failed while running or writing: exit status 1.
    Failed(String),
    /// Already reported; exit with this status (1: a regression or a failed cell, 130:
    /// interrupted).
    Reported(u8),
}

/// What the commands return.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> u8 {
        match self {
            Error::BadInput(_) => 2,
            Error::Failed(_) => 1,
            Error::Reported(s) => *s,
        }
    }

    /// Prints the one line (if any) and gives the exit status.
    pub fn report(self) -> ExitCode {
        match &self {
            Error::BadInput(m) | Error::Failed(m) => eprintln!("htab-mem: {m}"),
            Error::Reported(_) => {}
        }
        ExitCode::from(self.status())
    }
}

/// A command's result as its exit status.
pub fn exit(r: Result) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}

/// For validation code that returns a message: that message is bad input.
pub trait OrBadInput<T> {
    fn or_bad_input(self) -> Result<T>;
}

impl<T> OrBadInput<T> for std::result::Result<T, String> {
    fn or_bad_input(self) -> Result<T> {
        self.map_err(Error::BadInput)
    }
}

/// For work that returns a message: that message is a failure.
pub trait OrFailed<T> {
    fn or_failed(self) -> Result<T>;
}

impl<T> OrFailed<T> for std::result::Result<T, String> {
    fn or_failed(self) -> Result<T> {
        self.map_err(Error::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_has_its_status() {
        assert_eq!(Error::BadInput("x".into()).status(), 2);
        assert_eq!(Error::Failed("x".into()).status(), 1);
        assert_eq!(Error::Reported(130).status(), 130);
        assert_eq!(
            Err::<(), String>("no".into()).or_bad_input(),
            Err(Error::BadInput("no".into()))
        );
        assert_eq!(
            Err::<(), String>("no".into()).or_failed(),
            Err(Error::Failed("no".into()))
        );
    }
}
