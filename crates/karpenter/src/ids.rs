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
