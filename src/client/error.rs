//! Errors of the client-state parsers and of the file wrapper that names the file.

use std::path::PathBuf;

/// A parse failure inside one text, with the 1-based line when it is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ParseError {
    pub line: Option<usize>,
    pub message: String,
}

impl ParseError {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        Self {
            line: Some(line),
            message: message.into(),
        }
    }

    pub fn whole(message: impl Into<String>) -> Self {
        Self {
            line: None,
            message: message.into(),
        }
    }
}

/// A client-state or fleet file that could not be used: names the file and, when known, the
/// line (`clients.csv:4: ...`).
#[derive(Debug, thiserror::Error)]
pub enum ClientFileError {
    #[error("cannot read client state {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("client state {} is larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}:{}{}", path.display(), error.line.map(|l| format!("{l}: ")).unwrap_or_else(|| " ".to_owned()), error.message)]
    Parse { path: PathBuf, error: ParseError },
    #[error("{0}")]
    Usage(String),
}

impl ClientFileError {
    pub fn parse(path: impl Into<PathBuf>, error: ParseError) -> Self {
        ClientFileError::Parse {
            path: path.into(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_and_line() {
        let e = ClientFileError::parse("a/clients.csv", ParseError::at(4, "bad nla"));
        assert_eq!(e.to_string(), "a/clients.csv:4: bad nla");
        let e = ClientFileError::parse("x.reg", ParseError::whole("empty"));
        assert_eq!(e.to_string(), "x.reg: empty");
    }
}
