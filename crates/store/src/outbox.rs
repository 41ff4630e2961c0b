//! The outbox: pending write-backs to Security Hub (and later Backlog actions), in queue order.
//! Items carry their own attempt count and last error; the pipeline decides retries.
//!
//! Must not: drop an item on its own — only `remove_outbox` does.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::types::OutboxItem;
use crate::{decode, decode_seq, encode, tree, Store};

impl Store {
    /// Queues an item; returns its sequence number. Durable at the next flush.
    pub fn push_outbox(&self, item: &OutboxItem) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let seq = inner.seq.allocate(&inner.trees.meta)?;
        let bytes = encode(tree::OUTBOX, &seq.to_string(), item)?;
        inner
            .trees
            .outbox
            .insert(seq.to_be_bytes(), bytes)
            .map_err(StoreError::sled("insert outbox item"))?;
        inner.outbox_len.fetch_add(1, Ordering::SeqCst);
        Ok(seq)
    }

    /// Up to `limit` items, oldest first.
    pub fn outbox_pending(&self, limit: usize) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.inner
            .trees
            .outbox
            .iter()
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(StoreError::sled("scan outbox"))?;
                Ok((decode_seq(tree::OUTBOX, &k)?, decode(tree::OUTBOX, &k, &v)?))
            })
            .collect()
    }

    /// Replaces an item still queued (attempts, last error). An item already removed stays
    /// removed: updating it is an error rather than a resurrection.
    pub fn update_outbox(&self, seq: u64, item: &OutboxItem) -> Result<(), StoreError> {
        let bytes = encode(tree::OUTBOX, &seq.to_string(), item)?;
        let key = seq.to_be_bytes();
        let outbox = &self.inner.trees.outbox;
        let current = outbox
            .get(key)
            .map_err(StoreError::sled("read outbox item"))?;
        let Some(current) = current else {
            return Err(StoreError::Invalid {
                tree: tree::OUTBOX,
                reason: format!("no queued item {seq} to update"),
            });
        };
        outbox
            .compare_and_swap(key, Some(current), Some(bytes))
            .map_err(StoreError::sled("update outbox item"))?
            .map_err(|_| StoreError::Invalid {
                tree: tree::OUTBOX,
                reason: format!("item {seq} changed or was removed during the update"),
            })
    }

    /// Removes a finished item (removing one already gone is not an error).
    pub fn remove_outbox(&self, seq: u64) -> Result<(), StoreError> {
        let removed = self
            .inner
            .trees
            .outbox
            .remove(seq.to_be_bytes())
            .map_err(StoreError::sled("remove outbox item"))?;
        if removed.is_some() {
            self.inner.outbox_len.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    pub fn outbox_len(&self) -> usize {
        self.inner.outbox_len.load(Ordering::SeqCst)
    }

    /// When the oldest queued item was created (`None` when empty or unreadable).
    pub fn outbox_oldest(&self) -> Option<DateTime<Utc>> {
        let (k, v) = self.inner.trees.outbox.first().ok()??;
        decode::<OutboxItem>(tree::OUTBOX, &k, &v)
            .ok()
            .map(|i| i.created_at())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_back(key: &str, attempts: u32) -> OutboxItem {
        OutboxItem::WriteBack {
            finding_key: key.to_string(),
            workflow: "NOTIFIED".to_string(),
            note: "Backlog SEC-1".to_string(),
            attempts,
            last_error: None,
            created_at: DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
        }
    }

    #[test]
    fn items_queue_update_and_leave() {
        let store = Store::open_temporary().expect("open");
        let a = store.push_outbox(&write_back("a", 0)).expect("push");
        let b = store.push_outbox(&write_back("b", 0)).expect("push");
        assert_eq!(store.outbox_len(), 2);
        store.update_outbox(a, &write_back("a", 3)).expect("update");
        assert_eq!(
            store.outbox_pending(10).expect("pending"),
            vec![(a, write_back("a", 3)), (b, write_back("b", 0))]
        );
        assert_eq!(
            store.outbox_oldest(),
            Some(DateTime::from_timestamp(1_700_000_000, 0).expect("time"))
        );
        store.remove_outbox(a).expect("remove");
        assert!(
            store.update_outbox(a, &write_back("a", 4)).is_err(),
            "no resurrection"
        );
        assert_eq!(store.outbox_pending(10).expect("pending").len(), 1);
        assert_eq!(store.outbox_len(), 1);
    }
}
