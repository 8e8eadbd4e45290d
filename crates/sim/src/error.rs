//! Why a run could not start. Everything a user wrote was checked when the scenario was
//! loaded (with file and line); what is left is the choice of autoscaler and the mock EC2's
//! own consistency checks.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunError {
    #[error("--autoscaler karpenter needs at least one karpenter.sh/v1 NodePool in the scenario")]
    NoNodePools,
    #[error(
        "--autoscaler cluster-autoscaler needs at least one node group in spec.clusterAutoscaler.nodeGroups"
    )]
    NoNodeGroups,
    #[error(transparent)]
    Karpenter(#[from] asim_karpenter::config::ConfigError),
    #[error(transparent)]
    ClusterAutoscaler(#[from] asim_cluster_autoscaler::ConfigError),
    #[error("mock EC2: {0}")]
    Cloud(#[from] asim_core::cloud::CloudError),
}
