//! A fast, deterministic hasher for the simulator's lookup maps.
//!
//! The standard `HashMap` hashes with SipHash, keyed randomly per process: safe against
//! adversarial keys, which a simulation's own node ids, interned label values and addresses
//! are not, and several times the cost of the lookup it serves — 5 % of a consolidation-heavy
//! run went to hashing node ids and label values (docs/performance.md). [`FastHasher`] mixes a
//! word at a time with one multiplication (the scheme of rustc's `FxHasher`), with no random
//! state. Maps hashed with it are still only looked up, or iterated where the order cannot
//! reach output: a hash order is not a sorted order.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the mixing step: an odd constant with well-spread bits (2^64 / φ).
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// See the module documentation.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        // hashbrown reads the top 7 bits for its control bytes and the low bits for the
        // bucket: fold the well-mixed high half into the low one.
        self.0 ^ (self.0 >> 32)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
        // The tail is padded with zeros: the length tells "ab" from "ab\0".
        self.add(bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// A `HashMap` hashed with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` hashed with [`FastHasher`].
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hash};

    fn hash<T: Hash>(t: &T) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(t)
    }

    #[test]
    fn equal_keys_hash_equal_and_every_byte_of_a_string_counts() {
        assert_eq!(hash(&"us-east-1a"), hash(&String::from("us-east-1a")));
        // Strings differing in one byte, at any position (whole words and the tail).
        let base = "topology.kubernetes.io/zone=us-east-1a".to_string();
        for i in 0..base.len() {
            let mut other = base.clone().into_bytes();
            other[i] ^= 1;
            let other = String::from_utf8(other).expect("ascii");
            assert_ne!(hash(&base), hash(&other), "byte {i}");
        }
        // A prefix is not its extension (str's Hash adds a terminator).
        assert_ne!(hash(&"ab"), hash(&"ab\0"));
    }

    #[test]
    fn a_map_of_many_small_ids_works_as_a_map() {
        let mut m: FastMap<u32, u32> = FastMap::default();
        for i in 0..10_000u32 {
            m.insert(i, i * 2);
        }
        assert!((0..10_000u32).all(|i| m.get(&i) == Some(&(i * 2))));
        assert_eq!(m.len(), 10_000);
    }
}
