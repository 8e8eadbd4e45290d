//! Karpenter: its API objects (NodePool, EC2NodeClass). The provisioning and disruption
//! controllers come with the Karpenter issues.

pub mod apis;
