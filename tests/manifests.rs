//! asim-manifests: Kubernetes kinds parsed into k8s-openapi types, and their unread fields
//! named (the crate has no unit tests of its own, see its Cargo.toml).

use autoscale_sim::manifests::{Kube, PathSeg, ignored_paths, parse};

#[test]
fn a_deployment_parses_and_its_unread_fields_are_named() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: x}]\n      notAField: 1\n";
    let Some(Ok(Kube::Deployment(d))) = parse("apps/v1", "Deployment", text) else {
        panic!("parses");
    };
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(2));
    let ignored = ignored_paths("Deployment", text).expect("known kind");
    assert_eq!(
        ignored,
        vec![vec![
            PathSeg::Key("spec".into()),
            PathSeg::Key("template".into()),
            PathSeg::Key("spec".into()),
            PathSeg::Key("notAField".into()),
        ]]
    );
    assert!(parse("v1", "ConfigMap", text).is_none());
}
