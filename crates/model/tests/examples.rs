//! Every file in `examples/` is a valid desired-state file: adding a file adds a case.

use std::path::PathBuf;

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn every_example_validates() {
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(examples_dir()).expect("examples/ exists") {
        let path = entry.expect("readable directory entry").path();
        if !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            continue;
        }
        if let Err(errors) = fb_model::config::load(&path) {
            panic!("{} is not valid:\n{errors}", path.display());
        }
        checked.push(path);
    }
    let names: Vec<_> = checked
        .iter()
        .filter_map(|p| p.file_name()?.to_str())
        .collect();
    for required in ["seed.yaml", "organization-relay.yaml", "demo.yaml"] {
        assert!(
            names.contains(&required),
            "examples/{required} missing; found {names:?}"
        );
    }
}
