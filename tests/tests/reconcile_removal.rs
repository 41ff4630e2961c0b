//! Removing an account or a region from the file removes our resources there
//! (`fb_daemon::reconcile`, in-process against moto, with a real store): apply to 2 accounts ×
//! 2 regions, drop one region and one account from the file, apply → their `fb-<name>-…`
//! resources and the dropped account's invoke role are gone, the rest and a hand-made rule
//! are untouched, the store forgets the emptied places, and the next plan is empty. A store
//! without the record (older version) gets it from a reconcile that changes nothing.

use fb_daemon::reconcile::{reconcile_with, PlaceResult};
use fb_e2e::moto::{block_on, Moto};
use fb_e2e::scenario::{reconcile_config, ReconcilePlaces, ROLE};
use fb_store::{ManagedPlaces, Store};

const KEPT: &str = "111111111111";
const DROPPED: &str = "222222222222";
const KEPT_REGION: &str = "ap-northeast-1";
const DROPPED_REGION: &str = "us-east-1";
const PREFIX: &str = "fb-removal-";
const FOREIGN_RULE: &str = "security-team-own-rule";

fn config(accounts: &[&str], regions: &[&str], key: &std::path::Path) -> fb_model::config::Config {
    let places = ReconcilePlaces {
        accounts,
        regions,
        hub_account: KEPT,
        hub_region: KEPT_REGION,
    };
    reconcile_config("removal", places, key)
}

/// Names of our rules, connections and API destinations in one place (plus foreign rules).
async fn names(moto: &Moto, account: &str, region: &str) -> Vec<String> {
    let eb = moto
        .eventbridge(account, region)
        .await
        .expect("eventbridge");
    let rules = eb.list_rules().send().await.expect("list rules");
    let conns = eb
        .list_connections()
        .send()
        .await
        .expect("list connections");
    let dests = eb
        .list_api_destinations()
        .send()
        .await
        .expect("list destinations");
    let mut names: Vec<String> = rules
        .rules()
        .iter()
        .filter_map(|r| r.name.clone())
        .chain(conns.connections().iter().filter_map(|c| c.name.clone()))
        .chain(
            dests
                .api_destinations()
                .iter()
                .filter_map(|d| d.name.clone()),
        )
        .collect();
    names.sort();
    names
}

fn ours(names: &[String]) -> Vec<&String> {
    names.iter().filter(|n| n.starts_with(PREFIX)).collect()
}

async fn has_invoke_role(moto: &Moto, account: &str) -> bool {
    let iam = moto.iam(account).await.expect("iam");
    iam.get_role()
        .role_name(format!("{PREFIX}invoke"))
        .send()
        .await
        .is_ok()
}

fn places(pairs: &[(&str, &str)], roles: &[&str]) -> ManagedPlaces {
    ManagedPlaces {
        places: pairs
            .iter()
            .map(|(a, r)| ((*a).to_owned(), (*r).to_owned()))
            .collect(),
        invoke_roles: roles.iter().map(|a| (*a).to_owned()).collect(),
    }
}

#[test]
fn an_account_and_a_region_removed_from_the_file_are_emptied_and_forgotten() {
    block_on(|| async {
        let moto = Moto::start().unwrap();
        for account in [KEPT, DROPPED] {
            moto.create_execution_role(account, ROLE).await.unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("ingest-key");
        std::fs::write(&key, "removal-ingest-key\n").unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let base = moto.base_config("us-east-1");
        let both = [KEPT_REGION, DROPPED_REGION];

        // Everything in 2 accounts × 2 regions, recorded in the store.
        let full = config(&[KEPT, DROPPED], &both, &key);
        let first = reconcile_with(&full, base.clone(), &store).await.unwrap();
        assert!(first.applied.as_ref().is_some_and(|a| a.succeeded()));
        let mut before = Vec::new();
        for account in [KEPT, DROPPED] {
            assert!(has_invoke_role(&moto, account).await, "{account}");
            for region in both {
                let found = names(&moto, account, region).await;
                assert!(!ours(&found).is_empty(), "{account}/{region}: {found:?}");
                before.push(((account, region), found));
            }
        }
        let all_places = [
            (KEPT, KEPT_REGION),
            (KEPT, DROPPED_REGION),
            (DROPPED, KEPT_REGION),
            (DROPPED, DROPPED_REGION),
        ];
        assert_eq!(
            store.managed_places().unwrap(),
            places(&all_places, &[KEPT, DROPPED])
        );

        // A store from before the record existed: a reconcile with nothing to change records
        // the places, so that they can be removed later.
        store.set_managed_places(&ManagedPlaces::default()).unwrap();
        let in_sync = reconcile_with(&full, base.clone(), &store).await.unwrap();
        assert!(in_sync.applied.is_none(), "{:?}", in_sync.plan);
        assert_eq!(
            store.managed_places().unwrap(),
            places(&all_places, &[KEPT, DROPPED])
        );

        // Someone's own rule in the dropped account must survive the cleanup.
        let eb = moto.eventbridge(DROPPED, DROPPED_REGION).await.unwrap();
        eb.put_rule()
            .name(FOREIGN_RULE)
            .event_pattern(r#"{"source":["aws.guardduty"]}"#)
            .send()
            .await
            .unwrap();

        // One account and one region leave the file.
        let reduced = config(&[KEPT], &[KEPT_REGION], &key);
        let second = reconcile_with(&reduced, base.clone(), &store)
            .await
            .unwrap();
        let applied = second.applied.as_ref().expect("deletes were applied");
        assert!(applied.succeeded(), "{:?}", applied.report);
        let outcomes = second.places();
        assert!(
            outcomes.iter().all(|p| p.result != PlaceResult::Failed),
            "{outcomes:?}"
        );
        for (account, region) in &all_places[1..] {
            let found = names(&moto, account, region).await;
            assert!(ours(&found).is_empty(), "{account}/{region}: {found:?}");
        }
        assert_eq!(
            names(&moto, DROPPED, DROPPED_REGION).await,
            [FOREIGN_RULE.to_owned()]
        );
        assert!(!has_invoke_role(&moto, DROPPED).await, "role left behind");
        assert!(has_invoke_role(&moto, KEPT).await);
        let kept = names(&moto, KEPT, KEPT_REGION).await;
        assert_eq!(kept, before[0].1, "the kept place was changed");
        assert_eq!(
            store.managed_places().unwrap(),
            places(&[(KEPT, KEPT_REGION)], &[KEPT])
        );

        // Nothing left to do, and the forgotten places are not read any more.
        let third = reconcile_with(&reduced, base, &store).await.unwrap();
        assert!(third.plan.is_empty(), "{:?}", third.plan);
        assert!(third.applied.is_none());
        assert_eq!(third.stats.places_read, 1);
    });
}
