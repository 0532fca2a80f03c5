//! Events grouped as Kubernetes' own recorder groups them: a repeat of the same reason
//! *and note* on one object counts on the first Event (its `series`), a new note is a new
//! Event. kube's [`Recorder`] keys its series on the reason alone (its `EventKey` has no
//! note), so "restarting node 1000", "… node 1001", "… node 1002" showed in `kubectl get
//! events` as the first note counted three times, and each rack step of a roll as the
//! first rack's (found on the e2e control plane's real API server).
//!
//! This keeps one kube [`Recorder`] (the library still does the Event objects, the series
//! and their PATCHes) per (object, reason, note), dropped once unused for longer than
//! kube's own series lifetime, so the map stays as small as the Events worth counting.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};

/// How long a note's recorder is kept unused: kube's recorder counts a repeat on the
/// first Event for 6 minutes.
const KEEP_UNUSED: Duration = Duration::from_secs(6 * 60);

/// (object uid or name, reason, note).
type NoteKey = (String, String, String);

/// Publishes Events with one series per (object, reason, note).
pub struct NoteRecorder {
    client: Client,
    reporter: Reporter,
    by_note: Mutex<HashMap<NoteKey, (Recorder, Instant)>>,
}

impl NoteRecorder {
    /// A recorder reporting as `reporter`.
    pub fn new(client: Client, reporter: Reporter) -> Self {
        Self {
            client,
            reporter,
            by_note: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes `ev` about `regarding`: a new Event for a new note, a series count on
    /// the Event of the same note otherwise.
    pub async fn publish(
        &self,
        ev: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let recorder = self.recorder_for(ev, regarding, Instant::now());
        recorder.publish(ev, regarding).await
    }

    fn recorder_for(&self, ev: &Event, regarding: &ObjectReference, now: Instant) -> Recorder {
        let object = regarding
            .uid
            .clone()
            .or_else(|| regarding.name.clone())
            .unwrap_or_default();
        let key = (
            object,
            ev.reason.clone(),
            ev.note.clone().unwrap_or_default(),
        );
        let mut by_note = self
            .by_note
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        by_note.retain(|_, (_, used)| now.duration_since(*used) < KEEP_UNUSED);
        let (recorder, used) = by_note.entry(key).or_insert_with(|| {
            (
                Recorder::new(self.client.clone(), self.reporter.clone()),
                now,
            )
        });
        *used = now;
        recorder.clone()
    }

    /// Notes with a recorder now (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_note
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use kube::runtime::events::EventType;

    fn event(reason: &str, note: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: Some(note.into()),
            action: "Reconcile".into(),
            secondary: None,
        }
    }

    fn cluster(uid: &str) -> ObjectReference {
        ObjectReference {
            name: Some("c".into()),
            uid: Some(uid.into()),
            ..ObjectReference::default()
        }
    }

    fn recorder() -> NoteRecorder {
        let (service, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let reporter = Reporter {
            controller: "test".into(),
            instance: None,
        };
        NoteRecorder::new(Client::new(service, "default"), reporter)
    }

    #[tokio::test]
    async fn one_series_per_note_and_unused_notes_are_dropped() {
        let r = recorder();
        let t0 = Instant::now();
        let a = cluster("a");
        r.recorder_for(&event("NodeRestarting", "restarting node 1"), &a, t0);
        r.recorder_for(&event("NodeRestarting", "restarting node 1"), &a, t0);
        assert_eq!(r.len(), 1, "a repeat counts on the same series");
        r.recorder_for(&event("NodeRestarting", "restarting node 2"), &a, t0);
        r.recorder_for(
            &event("NodeRestarting", "restarting node 1"),
            &cluster("b"),
            t0,
        );
        assert_eq!(r.len(), 3, "a new note or object is a new Event");
        let later = t0 + KEEP_UNUSED + Duration::from_secs(1);
        r.recorder_for(&event("Ready", "Ready"), &a, later);
        assert_eq!(
            r.len(),
            1,
            "notes unused for longer than a series lives are dropped"
        );
    }
}
