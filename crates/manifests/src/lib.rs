//! Kubernetes' own manifests, read from YAML into k8s-openapi's types: the kinds a scenario may
//! hold (Pod, Node, Deployment, StatefulSet, DaemonSet, Job, PodDisruptionBudget,
//! PersistentVolumeClaim, StorageClass), and which of
//! a manifest's fields those types do not read (for `--set` paths that would silently do
//! nothing).
//!
//! A crate of its own for build time, not for design: deserializing k8s-openapi's large types
//! (every kind carries a whole `PodSpec`) is most of the workspace's compile time in release.
//! Here, below the autoscalers, the code is generated once; a change to Karpenter or
//! cluster-autoscaler no longer recompiles it (docs/performance.md, "Build times"). Locating
//! an error (file, line, field) stays with the scenario loader, which takes the
//! `serde_saphyr::Error` as it is.

use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, policy::v1 as policy,
    storage::v1 as storage,
};
use serde::de::DeserializeOwned;

/// A Kubernetes object the simulator reads.
#[derive(Clone, Debug)]
pub enum Kube {
    Pod(Box<core::Pod>),
    Node(Box<core::Node>),
    Deployment(Box<apps::Deployment>),
    StatefulSet(Box<apps::StatefulSet>),
    DaemonSet(Box<apps::DaemonSet>),
    Job(Box<batch::Job>),
    Pdb(Box<policy::PodDisruptionBudget>),
    Pvc(Box<core::PersistentVolumeClaim>),
    StorageClass(Box<storage::StorageClass>),
}

/// Read one YAML document of `apiVersion`/`kind`; None when the simulator has no type for it.
pub fn parse(
    api_version: &str,
    kind: &str,
    text: &str,
) -> Option<Result<Kube, serde_saphyr::Error>> {
    fn read<T: DeserializeOwned>(
        text: &str,
        wrap: fn(Box<T>) -> Kube,
    ) -> Result<Kube, serde_saphyr::Error> {
        serde_saphyr::from_str::<T>(text).map(|o| wrap(Box::new(o)))
    }
    Some(match (api_version, kind) {
        ("v1", "Pod") => read(text, Kube::Pod),
        ("v1", "Node") => read(text, Kube::Node),
        ("apps/v1", "Deployment") => read(text, Kube::Deployment),
        ("apps/v1", "StatefulSet") => read(text, Kube::StatefulSet),
        ("apps/v1", "DaemonSet") => read(text, Kube::DaemonSet),
        ("batch/v1", "Job") => read(text, Kube::Job),
        ("policy/v1", "PodDisruptionBudget") => read(text, Kube::Pdb),
        ("v1", "PersistentVolumeClaim") => read(text, Kube::Pvc),
        ("storage.k8s.io/v1", "StorageClass") => read(text, Kube::StorageClass),
        _ => return None,
    })
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// The paths of `text`'s fields that the type for `kind` does not read; None for a kind this
/// crate does not know. A document that does not parse gives what was seen before the error
/// (the real parse reports it).
pub fn ignored_paths(kind: &str, text: &str) -> Option<Vec<Vec<PathSeg>>> {
    Some(match kind {
        "Pod" => ignored::<core::Pod>(text),
        "Node" => ignored::<core::Node>(text),
        "Deployment" => ignored::<apps::Deployment>(text),
        "StatefulSet" => ignored::<apps::StatefulSet>(text),
        "DaemonSet" => ignored::<apps::DaemonSet>(text),
        "Job" => ignored::<batch::Job>(text),
        "PodDisruptionBudget" => ignored::<policy::PodDisruptionBudget>(text),
        "PersistentVolumeClaim" => ignored::<core::PersistentVolumeClaim>(text),
        "StorageClass" => ignored::<storage::StorageClass>(text),
        // The whole API type, so that a field the simulator does not read (labels, status) is
        // not taken for a typo.
        "HorizontalPodAutoscaler" => {
            ignored::<k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler>(text)
        }
        _ => return None,
    })
}

/// [`ignored_paths`] for any type (the scenario loader's own, Karpenter's CRDs).
pub fn ignored<T: DeserializeOwned>(text: &str) -> Vec<Vec<PathSeg>> {
    let mut out = Vec::new();
    let _ = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_ignored::deserialize::<_, _, T>(de, |p| out.push(segments(&p)))
    });
    out
}

fn segments(p: &serde_ignored::Path) -> Vec<PathSeg> {
    let mut out = Vec::new();
    let mut cur = p;
    loop {
        match cur {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                out.push(PathSeg::Index(*index));
                cur = parent;
            }
            serde_ignored::Path::Map { parent, key } => {
                out.push(PathSeg::Key(key.clone()));
                cur = parent;
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => cur = parent,
        }
    }
    out.reverse();
    out
}
