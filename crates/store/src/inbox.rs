//! The inbox: events accepted over HTTP (or by backfill), durable before they are acknowledged,
//! removed by the pipeline once their effects are recorded. Keys are sequence numbers, so
//! iteration order is arrival order.
//!
//! Must not: acknowledge (return from `accept`) before the event is on disk.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::types::InboxEvent;
use crate::{decode, decode_seq, encode, tree, Store};

impl Store {
    /// Stores the event and returns its sequence number once it is durable (group commit).
    pub async fn accept(&self, event: InboxEvent) -> Result<u64, StoreError> {
        let seq = self.inbox_insert(&event)?;
        self.flush().await?;
        Ok(seq)
    }

    /// Stores the event without waiting for durability (callers that flush themselves).
    pub fn inbox_insert(&self, event: &InboxEvent) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let seq = inner.seq.allocate(&inner.trees.meta)?;
        let bytes = encode(tree::INBOX, &seq.to_string(), event)?;
        inner
            .trees
            .inbox
            .insert(seq.to_be_bytes(), bytes)
            .map_err(StoreError::sled("insert inbox event"))?;
        inner.inbox_len.fetch_add(1, Ordering::SeqCst);
        Ok(seq)
    }

    /// Up to `limit` pending events, oldest first.
    pub fn inbox_pending(&self, limit: usize) -> Result<Vec<(u64, InboxEvent)>, StoreError> {
        self.inner
            .trees
            .inbox
            .iter()
            .take(limit)
            .map(|entry| {
                let (k, v) = entry.map_err(StoreError::sled("scan inbox"))?;
                Ok((decode_seq(tree::INBOX, &k)?, decode(tree::INBOX, &k, &v)?))
            })
            .collect()
    }

    /// Removes a processed event (removing one already gone is not an error).
    pub fn inbox_remove(&self, seq: u64) -> Result<(), StoreError> {
        let removed = self
            .inner
            .trees
            .inbox
            .remove(seq.to_be_bytes())
            .map_err(StoreError::sled("remove inbox event"))?;
        if removed.is_some() {
            self.inner.inbox_len.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Pending events (kept as a counter: sled's `len` walks the tree).
    pub fn inbox_len(&self) -> usize {
        self.inner.inbox_len.load(Ordering::SeqCst)
    }

    /// When the oldest pending event was received (`None` when empty or unreadable).
    pub fn inbox_oldest(&self) -> Option<DateTime<Utc>> {
        let (k, v) = self.inner.trees.inbox.first().ok()??;
        decode::<InboxEvent>(tree::INBOX, &k, &v)
            .ok()
            .map(|e| e.received_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EventOrigin;

    pub(crate) fn event(n: usize) -> InboxEvent {
        InboxEvent {
            received_at: DateTime::from_timestamp(1_700_000_000 + n as i64, 0).expect("time"),
            origin: EventOrigin::Relay,
            body: format!("{{\"id\":\"{n}\"}}"),
        }
    }

    #[tokio::test]
    async fn accepted_events_come_back_in_order_and_leave_when_removed() {
        let store = Store::open_temporary().expect("open");
        assert_eq!(store.inbox_oldest(), None);
        let mut seqs = Vec::new();
        for n in 0..5 {
            seqs.push(store.accept(event(n)).await.expect("accept"));
        }
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert_eq!(store.inbox_len(), 5);
        assert_eq!(store.inbox_oldest(), Some(event(0).received_at));
        let pending = store.inbox_pending(3).expect("pending");
        assert_eq!(
            pending,
            vec![
                (seqs[0], event(0)),
                (seqs[1], event(1)),
                (seqs[2], event(2))
            ]
        );
        store.inbox_remove(seqs[0]).expect("remove");
        store.inbox_remove(seqs[0]).expect("remove twice is fine");
        assert_eq!(store.inbox_len(), 4);
        assert_eq!(store.inbox_oldest(), Some(event(1).received_at));
    }
}
