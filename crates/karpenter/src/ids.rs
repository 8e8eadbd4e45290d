//! Typed indexes shared by Karpenter's controllers (and the timers that carry them), below
//! every module that uses them.

use std::fmt;

/// A NodeClaim's place in the store, fixed for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimId(pub usize);

impl fmt::Display for ClaimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// An EC2NodeClass's place among Karpenter's NodeClasses, fixed for the run (classes are
/// created at start and never reordered; a timeline change bumps a class's generation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassId(pub usize);

/// A hasher for maps keyed by an address (a shared pod template's, `Arc::as_ptr`) that are
/// only looked up, never iterated: one multiplication instead of SipHash's rounds, which cost
/// as much as the work such a map saves when it is probed once per pod. Deterministic (no
/// random state), and its order never reaches output since the maps are not iterated.
#[derive(Default, Clone, Copy)]
pub struct AddrHasher(u64);

impl std::hash::Hasher for AddrHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        // Allocations are 16-byte aligned: the low bits carry nothing. The multiplication by
        // an odd constant moves the rest into the high bits, which hashbrown reads too.
        self.0 = ((n as u64) >> 4 ^ self.0).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A `HashMap` keyed by addresses, hashed with [`AddrHasher`].
pub type AddrMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<AddrHasher>>;
