//! The reconcile orchestration as the daemon's schedule calls it (`fb_daemon::reconcile`),
//! in-process against moto: the first run applies every account × region, the next finds them
//! in sync, hand-made drift is corrected, and an unassumable account fails alone.

use fb_daemon::reconcile::{reconcile_with, PlaceResult, Reconciled};
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::scenario::{reconcile_config, ReconcilePlaces, ROLE};

fn config(accounts: &[&str]) -> fb_model::config::Config {
    let places = ReconcilePlaces {
        accounts,
        regions: &["ap-northeast-1", "us-east-1"],
        hub_account: accounts[0],
        hub_region: "ap-northeast-1",
    };
    reconcile_config("lib", places, &key_file())
}

/// The ingest key as a `file:` reference: no process-wide environment is touched.
fn key_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("fb-lib-ingest-key-{}", std::process::id()));
    std::fs::write(&path, "lib-ingest-key\n").expect("write key file");
    path
}

fn results(run: &Reconciled) -> Vec<(String, &'static str)> {
    run.places()
        .iter()
        .map(|p| (format!("{}/{}", p.account, p.region), p.result.as_str()))
        .collect()
}

#[test]
fn scheduled_reconcile_applies_then_stays_in_sync_and_isolates_failures() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        for account in ["111111111111", "222222222222"] {
            moto.create_execution_role(account, ROLE).await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let store = fb_store::Store::open(&dir.path().join("store")).unwrap();
        let base = moto.base_config("us-east-1");
        let config = config(&["111111111111", "222222222222", "444444444444"]);

        let first = reconcile_with(&config, base.clone(), &store).await.unwrap();
        let places = first.places();
        assert_eq!(places.len(), 6, "{places:?}");
        for place in &places[..4] {
            assert_eq!(place.result, PlaceResult::Applied, "{place:?}");
            assert!(place.drift > 0, "{place:?}");
        }
        for place in &places[4..] {
            assert_eq!(place.account, "444444444444");
            assert_eq!(place.result, PlaceResult::Failed, "{place:?}");
            let error = place.error.as_deref().unwrap_or_default();
            assert!(error.contains("AccessDenied"), "{place:?}");
        }
        let errors = first.plan.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].0, "444444444444");
        assert!(errors[0].1.contains("AccessDenied"), "{errors:?}");
        assert_eq!(first.stats.places_failed, 1);

        let second = reconcile_with(&config, base.clone(), &store).await.unwrap();
        assert!(second.applied.is_none(), "nothing to apply");
        let in_sync = results(&second)
            .iter()
            .filter(|(_, r)| *r == "in_sync")
            .count();
        assert_eq!(in_sync, 4, "{:?}", results(&second));

        // Drift in one place: only that place is applied again.
        let eb = moto.eventbridge("222222222222", "us-east-1").await.unwrap();
        eb.put_rule()
            .name("fb-lib-guardduty")
            .event_pattern(r#"{"source":["aws.guardduty"]}"#)
            .send()
            .await
            .unwrap();
        let third = reconcile_with(&config, base, &store).await.unwrap();
        let changed: Vec<(String, &str)> = results(&third)
            .into_iter()
            .filter(|(place, r)| *r != "in_sync" && !place.starts_with("444444444444"))
            .collect();
        assert_eq!(changed, [("222222222222/us-east-1".to_owned(), "applied")]);
    });
}
