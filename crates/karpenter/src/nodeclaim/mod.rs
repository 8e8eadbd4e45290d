//! NodeClaims and their lifecycle: Launched → Registered → Initialized, with the liveness
//! timeouts. docs/model/karpenter.md §3.

pub mod drift;
mod expiration;
mod lifecycle;
pub mod store;

use asim_cluster::NodeId;
use asim_core::cloud::{CapacityType, InstanceId};
use asim_core::engine::SimTime;
use asim_core::k8s::requirements::Requirements;
use asim_core::k8s::resources::Resources;
use asim_core::k8s::selector::Labels;
use asim_core::k8s::taints::Taint;

/// Launch timeout: Launched not True 5 minutes after creation ⇒ deleted (§3 Liveness).
pub const LAUNCH_TIMEOUT_MS: u64 = 5 * 60_000;
/// Registration timeout: Registered not True 15 minutes after launch ⇒ deleted.
pub const REGISTRATION_TIMEOUT_MS: u64 = 15 * 60_000;

pub use crate::apis::UNREGISTERED_TAINT;

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClaimState {
    /// Created; CreateFleet not answered yet.
    Pending,
    Launched,
    Registered,
    Initialized,
    /// Being deleted (node draining or instance terminating).
    Deleting,
    Deleted,
}

/// What the cloud gave us for a launched claim.
#[derive(Clone, Debug)]
pub struct Launched {
    pub instance: InstanceId,
    /// Index into the NodeClass's instance types.
    pub instance_type: u32,
    pub zone: String,
    pub capacity_type: CapacityType,
    pub price: f64,
}

#[derive(Clone, Debug)]
pub struct NodeClaim {
    pub name: String,
    pub nodepool: String,
    /// Index of the NodeClass's instance-type table.
    pub nodeclass: crate::ids::ClassId,
    pub requirements: Requirements,
    /// Candidate instance types, cheapest first (≤ 600).
    pub types: Vec<u32>,
    pub requests: Resources,
    pub labels: Labels,
    pub taints: Vec<Taint>,
    pub startup_taints: Vec<Taint>,
    pub state: ClaimState,
    pub created_at: SimTime,
    pub launched: Option<Launched>,
    pub launched_at: Option<SimTime>,
    pub registered_at: Option<SimTime>,
    pub initialized_at: Option<SimTime>,
    pub node: Option<NodeId>,
    /// Why it is being deleted.
    pub deletion_reason: Option<String>,
    /// `expireAfter` of its NodePool when it was created; None = Never (§3).
    pub expire_after_ms: Option<u64>,
    /// `terminationGracePeriod`: how long a drain may wait on PDBs and do-not-disrupt (§6).
    pub termination_grace_ms: Option<u64>,
    /// The NodePool template carries `karpenter.sh/do-not-disrupt: "true"` (§4.2).
    pub do_not_disrupt: bool,
    /// The EC2NodeClass generation it was launched from: older than the class's ⇒ drifted.
    pub nodeclass_generation: u64,
    /// Its NodePool's hashed template fields when it was created (§4.5).
    pub template: std::sync::Arc<crate::nodepool::StaticTemplate>,
    /// When the drift check found it `Drifted` (§4.5), and why.
    pub drifted_at: Option<SimTime>,
    pub drift_reason: Option<crate::nodeclaim::drift::DriftReason>,
    /// A disruption command waits for its replacements before deleting it (§4.8).
    pub marked_for_deletion: bool,
}

impl NodeClaim {
    pub fn is_active(&self) -> bool {
        !matches!(self.state, ClaimState::Deleting | ClaimState::Deleted)
    }

    pub fn initialized(&self) -> bool {
        self.state == ClaimState::Initialized
    }
}
