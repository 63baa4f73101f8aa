//! The worker's `beforeSend` (an `installFerry` option): asked before each attempt, it may give the
//! attempt a fresh URL (a presigned URL signed again) and headers (a token fetched by the worker), so
//! that nothing that expires has to wait in IndexedDB. What it answered, checked here.

use super::HeaderPlan;
use crate::core::task::Task;
use crate::core::validate::{validate_provided_headers, validate_provided_url};

/// How long an attempt waits for the worker's `beforeSend` to settle.
pub const BEFORE_SEND_WAIT_MS: u64 = 10_000;

/// What the worker's `beforeSend` answered for one attempt, as read from JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeforeSend {
    /// It resolved with nothing: send as stored.
    Nothing,
    /// It resolved with `{ url, headers }` (either may be missing).
    Gave {
        /// The URL as given and as resolved against the worker's location (`None`: it does not parse).
        url: Option<(String, Option<String>)>,
        /// The headers, in order.
        headers: Vec<(String, String)>,
    },
    /// It threw, rejected or resolved with something else: why.
    Failed(String),
    /// It did not settle within [`BEFORE_SEND_WAIT_MS`].
    Late,
}

/// What an attempt sends instead of what was stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prepared {
    /// The URL this attempt goes to (for tus: the creation endpoint, when it creates the upload).
    pub url: Option<String>,
    /// Headers added to the task's, replacing those of the same name.
    pub headers: Vec<(String, String)>,
}

/// Checks what `beforeSend` answered for an attempt of `task`. `Err(why)`: the attempt ends unsent
/// as a retryable outcome that says why (counted in `maxAttempts`, like a failed header provider).
pub fn before_send(task: &Task, answer: BeforeSend) -> Result<Prepared, String> {
    let fault = |why: String| format!("the worker's beforeSend {why}");
    match answer {
        BeforeSend::Nothing => Ok(Prepared::default()),
        BeforeSend::Failed(why) => Err(fault(format!("failed: {why}"))),
        BeforeSend::Late => Err(fault(format!(
            "did not settle within {} s",
            BEFORE_SEND_WAIT_MS / 1000
        ))),
        BeforeSend::Gave { url, headers } => {
            let url = url
                .map(|(raw, resolved)| validate_provided_url(&raw, resolved.as_deref()))
                .transpose()
                .map_err(|e| fault(format!("gave an unusable URL: {e}")))?;
            let headers = validate_provided_headers(&headers, &task.request.protocol)
                .map_err(|e| fault(format!("gave an unusable header: {e}")))?;
            Ok(Prepared { url, headers })
        }
    }
}

/// `first` with the headers of `then` added, a header of `then` replacing one of `first` of the same
/// name (names are lower-case once validated).
pub fn merge_headers(
    first: Vec<(String, String)>,
    then: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = first
        .into_iter()
        .filter(|(name, _)| !then.iter().any(|(n, _)| n == name))
        .collect();
    out.extend(then);
    out
}

/// What a tus upload's termination (its `DELETE`, after `cancel()` or `clear()`) adds to the task's own
/// headers: what an attempt of it would add, the page's provider's (`provided`) then `beforeSend`'s
/// (`given`), so that a server that wants its token on every request ends the upload. One with nothing
/// to give (no page answered, a failure) adds nothing: the `DELETE` goes all the same (at worst refused,
/// as it would be without them).
pub fn termination_headers(
    provided: HeaderPlan,
    given: Result<Prepared, String>,
) -> Vec<(String, String)> {
    let provided = match provided {
        HeaderPlan::Send(h) | HeaderPlan::SendAndKeep(h) => h,
        HeaderPlan::Wait | HeaderPlan::Refuse(_) => Vec::new(),
    };
    merge_headers(provided, given.map(|p| p.headers).unwrap_or_default())
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::core::scheduler::tests::task;
    use crate::core::task::Protocol;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn before_send_gives_the_attempt_a_fresh_url_and_headers_or_nothing() {
        let t = task("1", "a", 1);
        assert_eq!(
            before_send(&t, BeforeSend::Nothing),
            Ok(Prepared::default())
        );
        let signed = "https://bucket.example.com/k?X-Amz-Signature=2";
        let got = before_send(
            &t,
            BeforeSend::Gave {
                url: Some((signed.into(), Some(signed.into()))),
                headers: pairs(&[("Authorization", " Bearer fresh ")]),
            },
        );
        assert_eq!(
            got,
            Ok(Prepared {
                url: Some(signed.into()),
                headers: pairs(&[("authorization", "Bearer fresh")]),
            })
        );
        // Headers only: the stored URL stays.
        let got = before_send(
            &t,
            BeforeSend::Gave {
                url: None,
                headers: pairs(&[("x-a", "1")]),
            },
        );
        assert_eq!(got.map(|p| p.url), Ok(None));
    }

    #[test]
    fn a_tus_termination_carries_what_an_attempt_adds_the_providers_headers_then_before_sends() {
        let given = |h: &[(&str, &str)]| {
            Ok(Prepared {
                url: Some("https://tus.example.com/files".into()),
                headers: pairs(h),
            })
        };
        assert_eq!(
            termination_headers(
                HeaderPlan::Send(pairs(&[("authorization", "Bearer page"), ("x-a", "1")])),
                given(&[("authorization", "Bearer worker")]),
            ),
            pairs(&[("x-a", "1"), ("authorization", "Bearer worker")])
        );
        assert_eq!(
            termination_headers(
                HeaderPlan::SendAndKeep(pairs(&[("authorization", "Bearer page")])),
                Ok(Prepared::default()),
            ),
            pairs(&[("authorization", "Bearer page")])
        );
        // Nothing to give from either: the task's own headers alone.
        assert_eq!(
            termination_headers(HeaderPlan::Wait, Err("it threw".into())),
            vec![]
        );
        assert_eq!(
            termination_headers(
                HeaderPlan::Refuse("failed".into()),
                given(&[("authorization", "Bearer worker")]),
            ),
            pairs(&[("authorization", "Bearer worker")])
        );
    }

    #[test]
    fn a_before_send_that_fails_is_late_or_gives_what_cannot_be_sent_ends_the_attempt_saying_why() {
        let t = task("1", "a", 1);
        let why = |answer| before_send(&t, answer).unwrap_err();
        assert_eq!(
            why(BeforeSend::Failed("TypeError: boom".into())),
            "the worker's beforeSend failed: TypeError: boom"
        );
        assert_eq!(
            why(BeforeSend::Late),
            "the worker's beforeSend did not settle within 10 s"
        );
        let url = |raw: &str, resolved: Option<&str>| BeforeSend::Gave {
            url: Some((raw.into(), resolved.map(Into::into))),
            headers: vec![],
        };
        let e = why(url("ftp://x/y", Some("ftp://x/y")));
        assert!(
            e.starts_with("the worker's beforeSend gave an unusable URL") && e.contains("ftp"),
            "{e}"
        );
        let e = why(url("http://[", None));
        assert!(e.contains("cannot be parsed"), "{e}");
        let header = |name: &str, value: &str| BeforeSend::Gave {
            url: None,
            headers: pairs(&[(name, value)]),
        };
        for (name, value) in [
            ("Idempotency-Key", "k"),
            ("Cookie", "a=b"),
            ("X-A", "a\r\nb"),
        ] {
            let e = why(header(name, value));
            assert!(
                e.starts_with("the worker's beforeSend gave an unusable header"),
                "{e}"
            );
        }
        // tus computes its own protocol headers.
        let mut tus = task("2", "a", 2);
        tus.request.protocol = Protocol::Tus {
            chunk_size: 5,
            metadata: vec![],
            upload_url: None,
        };
        assert!(before_send(&tus, header("Upload-Offset", "0")).is_err());
    }

    #[test]
    fn headers_given_later_replace_those_of_the_same_name() {
        let merged = merge_headers(
            pairs(&[("authorization", "old"), ("x-a", "1")]),
            pairs(&[("authorization", "new"), ("x-b", "2")]),
        );
        assert_eq!(
            merged,
            pairs(&[("x-a", "1"), ("authorization", "new"), ("x-b", "2")])
        );
    }
}
