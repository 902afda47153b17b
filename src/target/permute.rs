//! Keyed pseudo-random permutation of `0..n` for spreading the scan order.
//!
//! A balanced Feistel network over the smallest even number of bits `2h` with `2^(2h) >= n`,
//! restricted to `0..n` by cycle-walking (Black & Rogaway, "Ciphers with Arbitrary Finite
//! Domains", CT-RSA 2002): apply the network repeatedly until the value falls inside `0..n`.
//! Because `2^(2h) < 4n`, that takes fewer than 4 applications on average, so each element
//! costs O(1) and no state is kept besides the round keys. The round function is the
//! SplitMix64 finaliser of the half-block mixed with a round key derived from the seed.
//!
//! This is for spreading load, not for secrecy: the point is that consecutive positions land
//! far apart in the index space, deterministically for a seed.

/// Feistel rounds; 4 already make a pseudo-random permutation (Luby-Rackoff), 6 give margin.
const ROUNDS: usize = 6;

/// A bijection on `0..n`, keyed by a seed.
#[derive(Clone, Debug)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    mask: u64,
    keys: [u64; ROUNDS],
}

/// SplitMix64 output function (Steele, Lea, Flood 2014): a strong 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Permutation {
    pub(crate) fn new(n: u64, seed: u64) -> Self {
        // Bits needed for values 0..n, i.e. ceil(log2(n)); at least 2 so each half has a bit.
        let bits = match n {
            0..=1 => 0,
            _ => u64::BITS - (n - 1).leading_zeros(),
        };
        let half_bits = bits.div_ceil(2).max(1);
        let mask = (1u64 << half_bits) - 1;
        let mut keys = [0u64; ROUNDS];
        let mut state = seed;
        for key in &mut keys {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            *key = mix64(state);
        }
        Self {
            n,
            half_bits,
            mask,
            keys,
        }
    }

    fn round(&self, key: u64, half: u64) -> u64 {
        mix64(half ^ key) & self.mask
    }

    /// One pass of the network over the `2 * half_bits`-bit domain.
    fn encrypt(&self, x: u64) -> u64 {
        let mut left = (x >> self.half_bits) & self.mask;
        let mut right = x & self.mask;
        for &key in &self.keys {
            let next = left ^ self.round(key, right);
            left = right;
            right = next;
        }
        (left << self.half_bits) | right
    }

    fn decrypt(&self, y: u64) -> u64 {
        let mut left = (y >> self.half_bits) & self.mask;
        let mut right = y & self.mask;
        for &key in self.keys.iter().rev() {
            let prev = right ^ self.round(key, left);
            right = left;
            left = prev;
        }
        (left << self.half_bits) | right
    }

    /// The element at position `pos` (`pos < n`); values outside `0..n` are returned unchanged.
    pub(crate) fn apply(&self, pos: u64) -> u64 {
        if pos >= self.n {
            return pos;
        }
        let mut x = self.encrypt(pos);
        while x >= self.n {
            x = self.encrypt(x);
        }
        x
    }

    /// The position of element `index` (`index < n`): the inverse of [`Self::apply`].
    pub(crate) fn invert(&self, index: u64) -> u64 {
        if index >= self.n {
            return index;
        }
        let mut x = self.decrypt(index);
        while x >= self.n {
            x = self.decrypt(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_a_bijection_for_many_sizes() {
        for n in (0..=300).chain([1000, 1023, 1024, 1025, 4097, 65_537]) {
            for seed in [0, 1, 0xdead_beef] {
                let p = Permutation::new(n, seed);
                let mut seen = vec![false; usize::try_from(n).unwrap()];
                for pos in 0..n {
                    let x = p.apply(pos);
                    assert!(x < n, "n={n} pos={pos} -> {x}");
                    let slot = &mut seen[usize::try_from(x).unwrap()];
                    assert!(!*slot, "n={n} seed={seed}: {x} produced twice");
                    *slot = true;
                    assert_eq!(p.invert(x), pos, "n={n} seed={seed}");
                }
            }
        }
    }

    #[test]
    fn seeds_give_different_orders() {
        let a: Vec<u64> = (0..64)
            .map(|i| Permutation::new(1 << 20, 1).apply(i))
            .collect();
        let b: Vec<u64> = (0..64)
            .map(|i| Permutation::new(1 << 20, 2).apply(i))
            .collect();
        assert_ne!(a, b);
    }

    #[test]
    fn huge_domains_round_trip() {
        for n in [u64::MAX, 1 << 63, (1 << 48) + 12_345, 16_777_216 * 3] {
            let p = Permutation::new(n, 7);
            for pos in [0, 1, 2, n / 2, n - 1] {
                let x = p.apply(pos);
                assert!(x < n);
                assert_eq!(p.invert(x), pos);
            }
        }
    }
}
