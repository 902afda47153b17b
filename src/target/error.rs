//! Errors of the target grammar and of building a [`TargetSet`](super::TargetSet).

/// Longest piece of user input repeated in an error message; longer input is cut with `…` so a
/// garbage multi-megabyte "token" cannot produce a multi-megabyte message.
const SHOWN_MAX_CHARS: usize = 80;

/// Everything that can go wrong while parsing targets, ports and shards or building a
/// [`TargetSet`](super::TargetSet). Every message names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// The token was empty (or only whitespace).
    #[error("empty target")]
    Empty,
    /// The token does not follow the target grammar (see the [module docs](super)).
    #[error("invalid target '{token}': {reason}")]
    InvalidTarget {
        /// The token as given (shortened if very long).
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A port list (`--ports`) does not follow `PORT[-PORT][,...]`.
    #[error("invalid port list '{list}': {reason}")]
    InvalidPorts {
        /// The list as given (shortened if very long).
        list: String,
        /// What is wrong with it.
        reason: String,
    },
    /// One target expands to more than [`MAX_ADDRESSES_PER_TARGET`](super::MAX_ADDRESSES_PER_TARGET)
    /// addresses (for example an IPv6 `/64`). Reported by [`TargetSet::new`](super::TargetSet::new);
    /// exclusions are not limited.
    #[error(
        "target '{token}' has {addresses} addresses, more than the limit of 4294967296 (2^32) per \
         target; use a longer prefix or a smaller range"
    )]
    TooLarge {
        /// The token as given.
        token: String,
        /// Its number of addresses, as text (it can exceed `u128` for `::/0`).
        addresses: String,
    },
    /// An error inside a target list (file or stdin), with where it happened.
    #[error("{origin}, line {line}: {error}")]
    AtLine {
        /// Where the list came from, as the caller named it (a file path, `<stdin>`).
        origin: String,
        /// 1-based line number.
        line: usize,
        /// The error of the token on that line.
        error: Box<TargetError>,
    },
    /// A shard that is not `I/N` with `1 <= I <= N`.
    #[error("invalid shard '{shard}': {reason}")]
    InvalidShard {
        /// The shard as given.
        shard: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A target without its own `:PORT` while the default port list is empty.
    #[error("no port for target '{token}': it has no ':PORT' and the default port list is empty")]
    NoPort {
        /// The token as given.
        token: String,
    },
    /// A default port list containing port 0.
    #[error("invalid default port 0: ports are 1-65535")]
    ZeroDefaultPort,
    /// The whole target list expands to more than `u64::MAX` endpoints (or more than
    /// `u32::MAX - 1` targets): far beyond anything scannable.
    #[error("the targets expand to too many endpoints (more than 2^64, or more than 2^32 targets)")]
    TooManyEndpoints,
}

impl TargetError {
    pub(crate) fn invalid(token: &str, reason: impl Into<String>) -> Self {
        Self::InvalidTarget {
            token: shown(token),
            reason: reason.into(),
        }
    }

    pub(crate) fn ports(list: &str, reason: impl Into<String>) -> Self {
        Self::InvalidPorts {
            list: shown(list),
            reason: reason.into(),
        }
    }
}

/// `s` cut to [`SHOWN_MAX_CHARS`] characters (with `…` when cut) for use in messages.
pub(crate) fn shown(s: &str) -> String {
    if s.chars().count() <= SHOWN_MAX_CHARS {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(SHOWN_MAX_CHARS).collect();
        out.push('…');
        out
    }
}
