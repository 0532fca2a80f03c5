//! Test support shared by the crate's unit tests: the shipped example clusters,
//! validated, so tests cover exactly what users copy.

use std::path::PathBuf;

use crate::render::parse_cluster;
use crate::validate::{ValidatedCluster, validate};

/// Every `operator/examples/*.yaml`, validated, by file name in name order.
pub fn examples() -> Vec<(String, ValidatedCluster)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut out: Vec<(String, ValidatedCluster)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let cluster =
                validate(&parse_cluster(&text).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, cluster)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 3, "examples missing in {}", dir.display());
    out
}

/// The example named `name` (e.g. `dedicated-controllers.yaml`).
pub fn example(name: &str) -> ValidatedCluster {
    examples()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c)
        .unwrap_or_else(|| panic!("no example {name}"))
}
