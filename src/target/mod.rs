//! Targets: what to scan. Parses target tokens, lists and port lists, and expands them lazily
//! into endpoints with deduplication, exclusions, a spreading order and sharding.
//!
//! Sans-IO: no DNS, no files. The CLI reads files and passes their text to
//! [`parse_target_list`]; the scanner resolves [`Host::Name`]s.
//!
//! # Target grammar
//!
//! A token is one host form, optionally followed by `:PORT` (1-65535). A token's own port
//! replaces the default port list for that token.
//!
//! | Form | Examples | Notes |
//! |---|---|---|
//! | IPv4 address | `10.0.0.7`, `10.0.0.7:3390` | dotted quad; no leading zeros, no short forms (`10.1`) |
//! | IPv6 address | `fd00::7`, `[fd00::7]`, `[fd00::7]:3390` | a port needs brackets; no zone index (`%eth0`) |
//! | CIDR block | `10.0.0.0/24`, `10.0.0.0/24:3390`, `fd00::/120`, `[fd00::/120]:3390` | host bits are accepted and cleared (`10.0.0.5/24` = `10.0.0.0/24`); the network and broadcast addresses are included, as scanners do |
//! | range | `10.0.0.1-10.0.0.50`, `fd00::1-fd00::ff`, `[fd00::1-fd00::ff]:3390` | inclusive; both ends of one family; start <= end |
//! | IPv4 last-octet range | `10.0.0.1-50` | same as `10.0.0.1-10.0.0.50` |
//! | host name | `rdp01`, `rdp01.corp.example.`, `rdp01.corp.example:3390` | see below; resolved by the scanner |
//!
//! Host names are ASCII (RFC 1123 §2.1): dot-separated labels of 1-63 letters, digits and `-`
//! (not first or last in a label), at most 253 characters, one trailing dot allowed. `_` is
//! accepted too (common in Windows/Active Directory names). Internationalised names must be
//! given in their IDNA `xn--` form. The last label must not be all digits, so a malformed IPv4
//! address such as `10.0.0.300` is an error rather than a name.
//!
//! Rejected with an error naming the token: empty tokens, malformed addresses (`10.0.0.300`),
//! prefixes beyond the family (`10.0.0.0/33`), ports 0 or above 65535 (`host:0`,
//! `host:99999`), ranges whose start is after their end, ranges mixing IPv4 and IPv6, bare IPv6
//! with something that looks like a port (`2001:db8::1:99999`: write `[2001:db8::1]:99999`),
//! IPv4 in brackets, whitespace or commas inside a token. Note that a bare `fd00::1:3389` is
//! a valid IPv6 address and is read as one (no port): IPv6 with a port must use brackets.
//!
//! **Size limit**: one target may expand to at most 2^32 addresses
//! ([`MAX_ADDRESSES_PER_TARGET`]: an IPv4 `/0` or an IPv6 `/96`). An IPv6 `/64` cannot be
//! enumerated and is rejected by [`TargetSet::new`] with [`TargetError::TooLarge`]. The limit
//! is checked there, not by [`parse_target`], so that large blocks remain usable as exclusions.
//!
//! # Lists
//!
//! [`parse_target_list`] reads file or stdin content: tokens separated by whitespace, commas or
//! line breaks, `#` comments to the end of a line, blank lines ignored. Errors name the origin
//! and the line. [`parse_ports`] reads port lists: `3389`, `3389,13389-13400` (duplicates
//! dropped, order kept).
//!
//! # Expansion ([`TargetSet`])
//!
//! - **Endpoints**: every address of every target × its ports (its own port, or the default
//!   list), as [`Candidate`]s. A name is one endpoint per port.
//! - **Lazy**: nothing is materialised; a `/8` on 3 ports iterates in constant memory.
//! - **Deduplication**: an endpoint (address, port) contained in several targets is yielded
//!   once, attributed to the first target in the list that contains it; names are deduplicated
//!   by (lowercased name without trailing dot, port). A name and an address are never merged
//!   (names are not resolved here).
//! - **Exclusions**: address exclusions (addresses, CIDRs, ranges; no size limit) remove those
//!   addresses on every port, or only on their own `:PORT` if they have one. Name exclusions
//!   remove name targets with the same (case-insensitive) name. The addresses a name resolves
//!   to are not checked here: the scanner uses [`TargetSet::is_excluded`].
//! - **Spreading**: the order is a keyed pseudo-random permutation of the (target, address,
//!   port) index space (a Feistel network with cycle-walking, O(1) per endpoint), so
//!   consecutive endpoints fall in unrelated subnets. It is deterministic for a given seed
//!   ([`DEFAULT_SEED`] by default) and the same inputs. When deduplication or exclusions
//!   remove endpoints, the permuted space is only the surviving endpoints (the targets' address
//!   intervals minus the exclusions and earlier targets, as sorted runs), so no position is
//!   skipped: `0.0.0.0/0` minus all but one address yields that address at once.
//! - **Sharding**: [`Shard`] `I/N` (1-based, like zmap) yields positions `I-1, I-1+N, ...` of
//!   that permutation. Shards are disjoint, together give exactly the unsharded set, and hold
//!   the same number of endpoints ±1. (Only past a limit of 2^20 survivor runs, reached by
//!   about a million disjoint exclusions inside the targets, is the whole space permuted and
//!   the removed endpoints skipped; shards then hold the same number of *positions* ±1.)
//!   **Every machine must use the same targets (in the same order), exclusions, ports, seed
//!   and rdpsweep version**, or the shards will not fit together.
//! - **Count**: [`TargetSet::len`] is exact: what [`TargetSet::iter`] yields.

mod error;
mod expand;
mod permute;
mod ports;
mod shard;
mod spec;

#[cfg(test)]
mod tests;

pub use error::TargetError;
pub use expand::{Candidate, DEFAULT_SEED, Host, Iter, MAX_ADDRESSES_PER_TARGET, TargetSet};
pub use ports::parse_ports;
pub use shard::Shard;
pub use spec::{TargetSpec, parse_target, parse_target_list};
