//! Discretionary uploads (iOS `isDiscretionary`, `earliestBeginDate`): deferrable work is sent in
//! batches, so the radio wakes once for several uploads, and waits while the user asks to save data.

use crate::core::task::Task;

/// The start of the batch window at or after `now_ms`: discretionary tasks enqueued within one window
/// share it, so they become due, and are sent, together. A window of 0 means "no batching".
pub fn batch_begin(now_ms: u64, window_ms: u64) -> u64 {
    if window_ms == 0 {
        return now_ms;
    }
    now_ms.div_ceil(window_ms).saturating_mul(window_ms)
}

/// Whether a due task must wait anyway: a discretionary one waits while the user asks to save data
/// (`navigator.connection.saveData`, the `Save-Data` hint); others go.
pub fn held_back(task: &Task, save_data: bool) -> bool {
    task.discretionary && save_data
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::retry::RetryPolicy;
    use crate::core::state::{new_task, NewTask};
    use crate::core::task::{BodyMeta, Method, Protocol, Request};

    fn queued() -> Task {
        new_task(NewTask {
            id: "t".into(),
            tag: "photos".into(),
            seq: 1,
            request: Request {
                url: "https://example.com/u".into(),
                method: Method::Post,
                headers: vec![],
                protocol: Protocol::Http,
                credentials: Default::default(),
            },
            body: BodyMeta {
                size: 1,
                mime: String::new(),
                name: None,
            },
            idempotency_key: "k".into(),
            now_ms: 1_000,
            expires_at: None,
            earliest_begin: None,
            retry: RetryPolicy::default(),
        })
    }

    #[test]
    fn tasks_enqueued_within_one_window_share_its_end() {
        let w = 60_000;
        let starts: Vec<u64> = [120_001, 150_000, 179_999, 180_000]
            .iter()
            .map(|&t| batch_begin(t, w))
            .collect();
        assert_eq!(starts, [180_000, 180_000, 180_000, 180_000]);
        assert_eq!(
            batch_begin(180_001, w),
            240_000,
            "the next window starts a new batch"
        );
    }

    #[test]
    fn a_zero_window_does_not_defer() {
        assert_eq!(batch_begin(123_456, 0), 123_456);
    }

    #[test]
    fn batch_begin_never_precedes_now_and_never_overflows() {
        for (now, w) in [(0, 1), (1, 1), (999, 1000), (1_795_765_000_123, 60_000)] {
            let b = batch_begin(now, w);
            assert!(b >= now && b - now < w && b % w == 0, "{now} {w} -> {b}");
        }
        // Near the end of time it saturates instead of wrapping round to the past.
        assert!(batch_begin(u64::MAX - 1, 1000) >= u64::MAX - 1000);
    }

    #[test]
    fn save_data_holds_back_only_discretionary_tasks() {
        let mut t = queued();
        assert!(!held_back(&t, true));
        t.discretionary = true;
        assert!(held_back(&t, true));
        assert!(!held_back(&t, false));
    }
}
