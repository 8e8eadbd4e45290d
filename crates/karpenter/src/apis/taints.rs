//! Taints Karpenter owns or knows (karpenter: pkg/apis/v1/taints.go, pkg/scheduling/taints.go).

use asim_core::k8s::taints::Taint;

/// `NoSchedule` taint the disruption controller and the termination finalizer put on a node
/// they are about to drain; pods that tolerate it are left in place (§4.7, §6).
pub const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";

/// `NoExecute` taint a node registers with; registration removes it (§3).
pub const UNREGISTERED_TAINT: &str = "karpenter.sh/unregistered";

/// Taints a node carries while it starts (`KnownEphemeralTaints`); ignored on uninitialized
/// nodes (§1.3).
pub fn is_ephemeral_taint(t: &Taint) -> bool {
    matches!(
        t.key.as_str(),
        "node.kubernetes.io/not-ready"
            | "node.kubernetes.io/unreachable"
            | "node.cloudprovider.kubernetes.io/uninitialized"
    ) || t.key == UNREGISTERED_TAINT
        || t.key.starts_with("readiness.k8s.io/")
}
