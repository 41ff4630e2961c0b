//! The repository's example files, compiled by the real compiler (`fb_model::compile`) and
//! planned: from nothing everything is created, applying converges, and removing every rule
//! removes everything we made (and nothing else).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{applied, assert_converges};
use fb_model::compile::{compile, BacklogIds, CompileInputs};
use fb_model::config::{load, AccountSource};
use fb_model::resources::{DesiredState, ObservedState};

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

/// Compiles with made-up Backlog ids for every name the examples use, and with two accounts
/// standing in for an organization.
fn desired_of(path: &PathBuf) -> DesiredState {
    let config = load(path).unwrap_or_else(|e| panic!("{} is valid: {e:?}", path.display()));
    let accounts = match &config.accounts.source {
        AccountSource::Ids(ids) => ids.clone(),
        AccountSource::Organization { .. } => vec!["111111111111".into(), "222222222222".into()],
    };
    let names = |pairs: &[(&str, u64)]| -> BTreeMap<String, u64> {
        pairs.iter().map(|(n, i)| ((*n).to_owned(), *i)).collect()
    };
    let inputs = CompileInputs {
        accounts,
        backlog: Some(BacklogIds {
            project_id: 10,
            issue_type_ids: names(&[("Task", 1), ("Bug", 2)]),
            priority_ids: names(&[("High", 2), ("Normal", 3), ("Low", 4)]),
        }),
    };
    compile(&config, &inputs).unwrap_or_else(|e| panic!("{} compiles: {e}", path.display()))
}

#[test]
fn every_example_plans_applies_and_converges() {
    let files = examples();
    assert!(files.len() >= 2, "examples found: {files:?}");
    for path in files {
        let d = desired_of(&path);
        let plan = fb_planner::plan(&d, &ObservedState::default());
        let (create, update, delete) = plan.counts();
        let rules: usize = d
            .accounts
            .iter()
            .flat_map(|a| &a.regions)
            .map(|r| r.rules.len())
            .sum();
        assert!(
            rules > 0 && create > rules,
            "{}: {create} creates",
            path.display()
        );
        assert_eq!((update, delete), (0, 0), "{}", path.display());
        assert_converges(&d, &ObservedState::default());

        // Every rule removed from the file: everything we made goes, role included.
        let observed = applied(&d);
        let mut emptied = d.clone();
        for region in emptied
            .accounts
            .iter_mut()
            .flat_map(|a| a.regions.iter_mut())
        {
            region.connections.clear();
            region.destinations.clear();
            region.rules.clear();
        }
        let removal = fb_planner::plan(&emptied, &observed);
        assert_eq!(removal.counts(), (0, 0, create), "{}", path.display());
        assert_converges(&emptied, &observed);
    }
}
