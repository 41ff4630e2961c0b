//! Small state: create intents, the HMAC key, connection-secret fingerprints, cursors, and the
//! places (account × region, invoke roles) where our resources were left by the last reconcile.
//!
//! Must not: store a secret. The HMAC key is the store's own random key, used to fingerprint
//! secrets so drift is detected without keeping them (DESIGN §3).

use std::collections::BTreeSet;

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::types::CreateIntent;
use crate::{decode, encode, meta, tree, Store};

pub(crate) fn fingerprint_key(account: &str, region: &str, connection: &str) -> Vec<u8> {
    [account, region, connection].join("\u{0}").into_bytes()
}

/// Where the managed places are kept: a named value in the `cursors` tree, so that export,
/// import and check carry it like any other small named state (a removed place forgotten in a
/// restore would leave its resources behind for good).
const MANAGED_PLACES: &str = "reconcile.managed_places";

/// The places holding resources we created, as recorded after the last reconcile: the
/// reconciler reads them even when the file no longer names them, so that removing an account
/// or region from the file deletes what we left there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedPlaces {
    /// (account, region) pairs with `fb-<name>-…` rules, connections or destinations.
    pub places: BTreeSet<(String, String)>,
    /// Accounts with our managed invoke role.
    pub invoke_roles: BTreeSet<String>,
}

impl ManagedPlaces {
    /// Every account named, by a place or by an invoke role.
    pub fn accounts(&self) -> BTreeSet<&str> {
        self.places
            .iter()
            .map(|(account, _)| account.as_str())
            .chain(self.invoke_roles.iter().map(String::as_str))
            .collect()
    }

    /// The recorded regions of `account`.
    pub fn regions_of(&self, account: &str) -> BTreeSet<&str> {
        self.places
            .iter()
            .filter(|(a, _)| a == account)
            .map(|(_, region)| region.as_str())
            .collect()
    }
}

impl Store {
    /// The places recorded by [`Store::set_managed_places`]; empty when none were recorded.
    pub fn managed_places(&self) -> Result<ManagedPlaces, StoreError> {
        let Some(json) = self.cursor(MANAGED_PLACES)? else {
            return Ok(ManagedPlaces::default());
        };
        serde_json::from_str(&json).map_err(|e| StoreError::Invalid {
            tree: tree::CURSORS,
            reason: format!("{MANAGED_PLACES}: {e}"),
        })
    }

    /// Replaces the recorded places (not flushed: the caller flushes with its other records).
    pub fn set_managed_places(&self, places: &ManagedPlaces) -> Result<(), StoreError> {
        let json = serde_json::to_string(places).map_err(|e| StoreError::Invalid {
            tree: tree::CURSORS,
            reason: format!("{MANAGED_PLACES}: {e}"),
        })?;
        self.set_cursor(MANAGED_PLACES, &json)
    }

    /// Records a create intent and returns once it is durable: call before Backlog's create.
    pub async fn put_intent(&self, intent: &CreateIntent) -> Result<(), StoreError> {
        if intent.finding_key.is_empty() {
            return Err(StoreError::Invalid {
                tree: tree::INTENTS,
                reason: "empty finding key".into(),
            });
        }
        let bytes = encode(tree::INTENTS, &intent.finding_key, intent)?;
        self.inner
            .trees
            .intents
            .insert(intent.finding_key.as_bytes(), bytes)
            .map_err(StoreError::sled("write create intent"))?;
        self.flush().await
    }

    pub fn intent(&self, finding_key: &str) -> Result<Option<CreateIntent>, StoreError> {
        self.inner
            .trees
            .intents
            .get(finding_key.as_bytes())
            .map_err(StoreError::sled("read create intent"))?
            .map(|v| decode(tree::INTENTS, finding_key.as_bytes(), &v))
            .transpose()
    }

    pub fn remove_intent(&self, finding_key: &str) -> Result<(), StoreError> {
        self.inner
            .trees
            .intents
            .remove(finding_key.as_bytes())
            .map_err(StoreError::sled("remove create intent"))?;
        Ok(())
    }

    /// Every unfinished intent, by finding key.
    pub fn intents(&self) -> Result<Vec<CreateIntent>, StoreError> {
        self.inner
            .trees
            .intents
            .iter()
            .map(|entry| {
                let (k, v) = entry.map_err(StoreError::sled("scan create intents"))?;
                decode(tree::INTENTS, &k, &v)
            })
            .collect()
    }

    /// The store's 32-byte HMAC key: created (randomly, once) on first use and kept.
    pub fn hmac_key(&self) -> Result<Vec<u8>, StoreError> {
        let meta_tree = &self.inner.trees.meta;
        if let Some(key) = meta_tree
            .get(meta::HMAC_KEY)
            .map_err(StoreError::sled("read HMAC key"))?
        {
            return Ok(key.to_vec());
        }
        let mut fresh = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut fresh);
        // Two first callers race: the compare-and-swap keeps exactly one key.
        let swapped = meta_tree
            .compare_and_swap(
                meta::HMAC_KEY,
                None as Option<&[u8]>,
                Some(fresh.as_slice()),
            )
            .map_err(StoreError::sled("create HMAC key"))?;
        let key = match swapped {
            Ok(()) => fresh,
            Err(current) => current
                .current
                .map(|k| k.to_vec())
                .ok_or(StoreError::Invalid {
                    tree: tree::META,
                    reason: "HMAC key vanished while being created".into(),
                })?,
        };
        // Fingerprints made with it are worthless if the key is lost in a crash: persist now.
        self.inner
            .db
            .flush()
            .map_err(|source| StoreError::Flush { source })?;
        Ok(key)
    }

    pub fn fingerprint(
        &self,
        account: &str,
        region: &str,
        connection: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = fingerprint_key(account, region, connection);
        self.inner
            .trees
            .fingerprints
            .get(&key)
            .map_err(StoreError::sled("read fingerprint"))?
            .map(|v| decode(tree::FINGERPRINTS, &key, &v))
            .transpose()
    }

    pub fn put_fingerprint(
        &self,
        account: &str,
        region: &str,
        connection: &str,
        fp: &str,
    ) -> Result<(), StoreError> {
        let key = fingerprint_key(account, region, connection);
        let bytes = encode(tree::FINGERPRINTS, connection, &fp)?;
        self.inner
            .trees
            .fingerprints
            .insert(key, bytes)
            .map_err(StoreError::sled("write fingerprint"))?;
        Ok(())
    }

    pub fn remove_fingerprint(
        &self,
        account: &str,
        region: &str,
        connection: &str,
    ) -> Result<(), StoreError> {
        self.inner
            .trees
            .fingerprints
            .remove(fingerprint_key(account, region, connection))
            .map_err(StoreError::sled("remove fingerprint"))?;
        Ok(())
    }

    pub fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.inner
            .trees
            .cursors
            .get(name.as_bytes())
            .map_err(StoreError::sled("read cursor"))?
            .map(|v| decode(tree::CURSORS, name.as_bytes(), &v))
            .transpose()
    }

    pub fn set_cursor(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let bytes = encode(tree::CURSORS, name, &value)?;
        self.inner
            .trees
            .cursors
            .insert(name.as_bytes(), bytes)
            .map_err(StoreError::sled("write cursor"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    #[tokio::test]
    async fn intents_are_kept_until_removed() {
        let store = Store::open_temporary().expect("open");
        let intent = CreateIntent {
            finding_key: "k".into(),
            rule: "guardduty".into(),
            started_at: DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            attempts: 1,
        };
        store.put_intent(&intent).await.expect("put");
        assert_eq!(store.intent("k").unwrap(), Some(intent.clone()));
        assert_eq!(store.intents().unwrap(), vec![intent]);
        store.remove_intent("k").expect("remove");
        assert_eq!(store.intent("k").unwrap(), None);
        assert!(store.intents().unwrap().is_empty());
    }

    #[test]
    fn the_hmac_key_is_created_once() {
        let store = Store::open_temporary().expect("open");
        let key = store.hmac_key().expect("create");
        assert_eq!(key.len(), 32);
        assert_ne!(key, vec![0u8; 32]);
        assert_eq!(store.hmac_key().expect("read"), key);
        let shown = format!("{store:?}");
        assert!(!shown.contains(&hex::encode(&key)), "{shown}");
    }

    #[test]
    fn fingerprints_and_cursors_round_trip() {
        let store = Store::open_temporary().expect("open");
        store.put_fingerprint("1", "r", "c", "fp1").expect("put");
        // the separator keeps ("1","r","c") and ("1r","","c") apart
        assert_eq!(store.fingerprint("1r", "", "c").unwrap(), None);
        assert_eq!(
            store.fingerprint("1", "r", "c").unwrap().as_deref(),
            Some("fp1")
        );
        store.remove_fingerprint("1", "r", "c").expect("remove");
        assert_eq!(store.fingerprint("1", "r", "c").unwrap(), None);
        assert_eq!(store.cursor("activities").unwrap(), None);
        store.set_cursor("activities", "123").expect("set");
        assert_eq!(store.cursor("activities").unwrap().as_deref(), Some("123"));
    }

    fn sample_places() -> ManagedPlaces {
        ManagedPlaces {
            places: [
                ("111", "eu-west-1"),
                ("111", "us-east-1"),
                ("222", "us-east-1"),
            ]
            .into_iter()
            .map(|(a, r)| (a.to_owned(), r.to_owned()))
            .collect(),
            invoke_roles: ["111".to_owned(), "333".to_owned()].into(),
        }
    }

    #[test]
    fn managed_places_are_empty_until_set_and_then_replaced() {
        let store = Store::open_temporary().expect("open");
        assert_eq!(store.managed_places().unwrap(), ManagedPlaces::default());
        let places = sample_places();
        store.set_managed_places(&places).expect("set");
        assert_eq!(store.managed_places().unwrap(), places);
        assert_eq!(
            places.accounts().into_iter().collect::<Vec<_>>(),
            ["111", "222", "333"]
        );
        assert_eq!(
            places.regions_of("111").into_iter().collect::<Vec<_>>(),
            ["eu-west-1", "us-east-1"]
        );
        store
            .set_managed_places(&ManagedPlaces::default())
            .expect("clear");
        assert_eq!(store.managed_places().unwrap(), ManagedPlaces::default());
    }

    #[test]
    fn managed_places_survive_export_and_import() {
        let store = Store::open_temporary().expect("open");
        store.set_managed_places(&sample_places()).expect("set");
        let mut exported = Vec::new();
        store.export(&mut exported).expect("export");
        let restored = Store::open_temporary().expect("open");
        restored.import(&mut exported.as_slice()).expect("import");
        assert_eq!(restored.managed_places().unwrap(), sample_places());
    }

    #[test]
    fn an_unreadable_record_of_managed_places_is_an_error() {
        let store = Store::open_temporary().expect("open");
        store.set_cursor(MANAGED_PLACES, "not json").expect("set");
        let error = store.managed_places().expect_err("invalid");
        assert!(error.to_string().contains(MANAGED_PLACES), "{error}");
    }
}
