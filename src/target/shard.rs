//! Sharding: splitting one scan over several machines.

use std::fmt;
use std::str::FromStr;

use super::error::{TargetError, shown};

/// One part of a scan split into `count` parts, written `I/N` with **1-based** `I`
/// (`1 <= I <= N`, like zmap's `--shard`): `1/3`, `2/3` and `3/3` together cover the scan.
///
/// Shard `I/N` takes the positions `I-1, I-1+N, I-1+2N, ...` of the seeded permutation of all
/// endpoints (see [`TargetSet`](super::TargetSet)), so shards are disjoint, their union is the
/// whole scan and their sizes differ by at most one before deduplication and exclusion remove
/// endpoints. Every machine must use the same targets, exclusions, ports and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// 1-based index of this shard, `1..=count`.
    pub index: u64,
    /// Number of shards, at least 1.
    pub count: u64,
}

impl Shard {
    /// A checked shard: `1 <= index <= count`.
    pub fn new(index: u64, count: u64) -> Result<Self, TargetError> {
        let shard = Self { index, count };
        shard.validate()?;
        Ok(shard)
    }

    /// Checks `1 <= index <= count` (the fields are public, so [`TargetSet::new`] checks again).
    ///
    /// [`TargetSet::new`]: super::TargetSet::new
    pub fn validate(&self) -> Result<(), TargetError> {
        let reason = if self.count == 0 {
            "the number of shards must be at least 1"
        } else if self.index == 0 {
            "shard numbers start at 1 (I/N with 1 <= I <= N)"
        } else if self.index > self.count {
            "the shard number is larger than the number of shards (I/N with 1 <= I <= N)"
        } else {
            return Ok(());
        };
        Err(TargetError::InvalidShard {
            shard: self.to_string(),
            reason: reason.to_owned(),
        })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = TargetError;

    /// Parses `I/N` (spaces around the numbers allowed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| TargetError::InvalidShard {
            shard: shown(s),
            reason: reason.to_owned(),
        };
        let (index, count) = s
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, for example 1/4"))?;
        let number = |t: &str| -> Result<u64, TargetError> {
            let t = t.trim();
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("expected I/N with whole numbers, for example 1/4"));
            }
            t.parse::<u64>().map_err(|_| bad("number too large"))
        };
        let shard = Self {
            index: number(index)?,
            count: number(count)?,
        };
        shard.validate().map_err(|e| match e {
            TargetError::InvalidShard { reason, .. } => TargetError::InvalidShard {
                shard: shown(s),
                reason,
            },
            other => other,
        })?;
        Ok(shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_based() {
        assert_eq!(
            "1/4".parse::<Shard>().unwrap(),
            Shard { index: 1, count: 4 }
        );
        assert_eq!(
            " 4 / 4 ".parse::<Shard>().unwrap(),
            Shard { index: 4, count: 4 }
        );
        assert_eq!("1/1".parse::<Shard>().unwrap().to_string(), "1/1");
    }

    #[test]
    fn rejects_bad_shards() {
        for bad in [
            "0/4",
            "5/4",
            "1/0",
            "0/0",
            "1",
            "",
            "a/b",
            "1/",
            "/4",
            "-1/4",
            "1/4/5",
            "99999999999999999999/1",
        ] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(
                err.to_string().contains(&format!("'{bad}'")),
                "{bad}: {err}"
            );
        }
        assert!(Shard::new(0, 3).is_err());
        assert!(Shard::new(3, 2).is_err());
        assert!(Shard::new(2, 2).is_ok());
    }
}
