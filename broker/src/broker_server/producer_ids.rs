//! Producer id allocation for InitProducerId: ids come in durable blocks from
//! the [`MetadataStore`] so an id is never reused, even across crashes, while
//! most requests need no disk write.

use std::sync::{Arc, Mutex};

use crate::metadata::{MetadataError, MetadataStore};

/// Ids reserved per metadata write (Kafka's producer id block size).
const BLOCK_SIZE: i64 = 1000;

pub struct ProducerIdManager {
    store: Arc<dyn MetadataStore>,
    /// `(next, end)` of the current block; `next == end` means exhausted.
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub fn new(store: Arc<dyn MetadataStore>) -> Self {
        ProducerIdManager {
            store,
            block: Mutex::new((0, 0)),
        }
    }

    /// The next unused producer id.
    pub fn next_id(&self) -> Result<i64, MetadataError> {
        let mut block = self.block.lock().unwrap_or_else(|p| p.into_inner());
        if block.0 >= block.1 {
            let first = self.store.allocate_producer_ids(BLOCK_SIZE)?;
            *block = (first, first + BLOCK_SIZE);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::NodeFile;
    use crate::metadata::image_store::ImageMetadataStore;

    #[test]
    fn ids_are_unique_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2 {
            let (_, image) = tokio::sync::watch::channel(Default::default());
            let local = Arc::new(NodeFile::open(dir.path()).unwrap());
            let store: Arc<dyn MetadataStore> =
                Arc::new(ImageMetadataStore::new("c".into(), 3, image, local));
            let ids = ProducerIdManager::new(store);
            for _ in 0..1500 {
                assert!(seen.insert(ids.next_id().unwrap()));
            }
        }
    }
}
