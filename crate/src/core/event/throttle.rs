//! Deciding which progress reports become events.
//!
//! Every event is an IndexedDB write and a message to every open page, while upload progress can be
//! reported thousands of times a second. The throttle keeps the outbox useful: a report becomes an
//! event only if enough time *or* enough bytes have passed since the last one, values only ever go up
//! (stale or repeated reports are dropped), and reaching the total is always reported, exactly once,
//! so a progress bar can end at 100%.

/// Progress-event gatekeeper for one attempt (make a new one per attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgressThrottle {
    total: u64,
    min_interval_ms: u64,
    min_bytes: u64,
    /// `(bytes, now_ms)` of the last emitted report.
    last: Option<(u64, u64)>,
}

impl ProgressThrottle {
    /// Default minimum time between two events.
    pub const DEFAULT_INTERVAL_MS: u64 = 500;
    /// Default byte step, as a fraction of the total: one event per 5%.
    pub const DEFAULT_STEPS: u64 = 20;

    /// A throttle that emits when `min_interval_ms` passed or `min_bytes` were added since the last
    /// event. `min_bytes == 0` disables the byte rule (time only).
    pub fn new(total: u64, min_interval_ms: u64, min_bytes: u64) -> Self {
        ProgressThrottle {
            total,
            min_interval_ms,
            min_bytes,
            last: None,
        }
    }

    /// Defaults: every [`Self::DEFAULT_INTERVAL_MS`] or every 1/[`Self::DEFAULT_STEPS`] of `total`.
    pub fn with_defaults(total: u64) -> Self {
        Self::new(
            total,
            Self::DEFAULT_INTERVAL_MS,
            (total / Self::DEFAULT_STEPS).max(1),
        )
    }

    /// The total this throttle was made for.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Offers a report of `bytes_sent` at `now_ms`; returns the value to emit (clamped to the total),
    /// or `None` to stay quiet.
    pub fn offer(&mut self, bytes_sent: u64, now_ms: u64) -> Option<u64> {
        let bytes = bytes_sent.min(self.total);
        let emit = match self.last {
            None => bytes > 0 || self.total == 0,
            Some((last_bytes, _)) if bytes <= last_bytes => false,
            Some(_) if bytes == self.total => true,
            Some((last_bytes, last_ms)) => {
                // saturating_sub: a clock that steps backwards counts as no time passed.
                now_ms.saturating_sub(last_ms) >= self.min_interval_ms
                    || (self.min_bytes > 0 && bytes - last_bytes >= self.min_bytes)
            }
        };
        if emit {
            self.last = Some((bytes, now_ms));
            Some(bytes)
        } else {
            None
        }
    }

    /// [`offer`](Self::offer) for a report of bytes handed to the network (a Background Fetch's
    /// upload progress), which reaches the total before the server has answered: the total is left
    /// to the success, whose outcome reports it ([`events_for`](crate::core::events_for)), so that it
    /// is told once, when it is true.
    pub fn offer_handed_over(&mut self, bytes_sent: u64, now_ms: u64) -> Option<u64> {
        if bytes_sent >= self.total {
            return None;
        }
        self.offer(bytes_sent, now_ms)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn bytes_handed_over_leave_the_total_to_the_success() {
        let mut p = ProgressThrottle::new(100, 0, 0);
        assert_eq!(p.offer_handed_over(40, 0), Some(40));
        assert_eq!(p.offer_handed_over(100, 1), None);
        assert_eq!(p.offer_handed_over(250, 2), None);
        assert_eq!(p.offer_handed_over(99, 3), Some(99));
    }

    #[test]
    fn first_report_is_emitted() {
        let mut p = ProgressThrottle::new(100, 1000, 50);
        assert_eq!(p.offer(1, 0), Some(1));
    }

    #[test]
    fn reports_inside_the_window_are_dropped() {
        let mut p = ProgressThrottle::new(100, 1000, 50);
        p.offer(1, 0);
        assert_eq!(p.offer(10, 999), None);
        assert_eq!(p.offer(11, 1000), Some(11));
    }

    #[test]
    fn a_big_byte_step_is_emitted_early() {
        let mut p = ProgressThrottle::new(100, 1000, 50);
        p.offer(1, 0);
        assert_eq!(p.offer(51, 1), Some(51));
    }

    #[test]
    fn values_never_go_backwards_or_repeat() {
        let mut p = ProgressThrottle::new(100, 0, 0);
        assert_eq!(p.offer(40, 0), Some(40));
        assert_eq!(p.offer(40, 10), None);
        assert_eq!(p.offer(30, 20), None);
        assert_eq!(p.offer(41, 30), Some(41));
    }

    #[test]
    fn the_total_is_always_emitted_once() {
        let mut p = ProgressThrottle::new(100, 1_000_000, 1_000_000);
        p.offer(1, 0);
        assert_eq!(p.offer(100, 1), Some(100));
        assert_eq!(p.offer(100, 2), None);
        assert_eq!(
            p.offer(500, 3),
            None,
            "clamped to the total, already emitted"
        );
    }

    #[test]
    fn empty_body_reports_zero_once() {
        let mut p = ProgressThrottle::with_defaults(0);
        assert_eq!(p.offer(0, 0), Some(0));
        assert_eq!(p.offer(0, 1000), None);
    }

    #[test]
    fn clock_going_backwards_does_not_emit() {
        let mut p = ProgressThrottle::new(100, 1000, 0);
        p.offer(1, 5000);
        assert_eq!(p.offer(2, 10), None);
    }

    #[test]
    fn defaults_step_by_five_percent() {
        let mut p = ProgressThrottle::with_defaults(1000);
        assert_eq!(p.offer(10, 0), Some(10));
        assert_eq!(p.offer(59, 1), None);
        assert_eq!(p.offer(60, 2), Some(60));
    }
}
