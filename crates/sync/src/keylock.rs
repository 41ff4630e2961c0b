//! One lock per finding key: "at most one action in flight per finding" across the pipeline's
//! concurrent groups and the write-back flusher (which updates the same mappings).
//! Entries disappear when nobody holds or waits for them, so the map stays small.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Debug, Default)]
pub(crate) struct KeyLocks {
    map: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// Held while acting on one finding key.
#[derive(Debug)]
pub(crate) struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: String,
    mutex: Arc<AsyncMutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyLocks {
    pub(crate) async fn lock(&self, key: &str) -> KeyGuard<'_> {
        let mutex = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_string()).or_default().clone()
        };
        let guard = mutex.clone().lock_owned().await;
        KeyGuard {
            locks: self,
            key: key.to_string(),
            mutex,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        self.guard.take();
        let mut map = self.locks.map.lock().unwrap_or_else(|e| e.into_inner());
        // The map's Arc and ours: no one else holds or waits for this key.
        if Arc::strong_count(&self.mutex) == 2 {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn same_key_waits_other_keys_do_not_and_entries_are_dropped() {
        let locks = KeyLocks::default();
        let a = locks.lock("a").await;
        let _b = locks.lock("b").await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(1), locks.lock("a"))
                .await
                .is_err(),
            "a second holder of `a` must wait"
        );
        drop(a);
        let again = locks.lock("a").await;
        drop(again);
        drop(_b);
        assert_eq!(locks.len(), 0);
    }
}
