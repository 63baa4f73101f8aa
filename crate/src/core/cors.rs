//! The reason of a network error to another origin that answers requests from here: either a
//! connection cut mid-request or (when every attempt fails alike) its CORS policy refusing the
//! request, a setup mistake the reason spells out the fix for.

use crate::core::retry::without_query;
use crate::core::task::Credentials;

/// What [`refused_reason`] says of the server: it answered Ferry's probe, so it is up.
const ANSWERS: &str = "answers requests from here";

/// Whether a network error's reason is one of [`refused_reason`]'s: the server answered a probe after
/// the request failed (its CORS policy refused the request, or the connection was cut mid-request), so
/// it is not down.
pub fn server_answered(reason: &str) -> bool {
    reason.contains(ANSWERS)
}

/// What the page's request needed from the server at `url` (another origin, `there`), after fetch
/// failed with `plain`: `origin` is the worker's, `headers` the names the request carried (each once),
/// `credentials` its mode. The URL is named without its query (CORS does not depend on it, and a
/// presigned URL's query holds its signature).
pub fn refused_reason(
    plain: &str,
    there: &str,
    origin: &str,
    method: &str,
    url: &str,
    headers: &[String],
    credentials: Credentials,
) -> String {
    let allow = if headers.is_empty() {
        format!("Access-Control-Allow-Origin: {origin} and Access-Control-Allow-Methods: {method}")
    } else {
        format!(
            "Access-Control-Allow-Origin: {origin}, Access-Control-Allow-Methods: {method} and \
             Access-Control-Allow-Headers: {}",
            headers.join(", ")
        )
    };
    // With credentials, both answers must also allow them (and name the origin: `*` is refused).
    let credentials = if credentials == Credentials::Include {
        ", each also with Access-Control-Allow-Credentials: true (this upload's credentials are \
         'include')"
    } else {
        ""
    };
    format!(
        "{plain} ({there} {ANSWERS}: a connection cut mid-request, or, if every \
         attempt fails like this, its CORS policy refusing the request. A server on another origin \
         must answer the preflight (OPTIONS) of {method} {url} with {allow}, and the {method} itself \
         with Access-Control-Allow-Origin: {origin} too{credentials}. A preflight refused outright \
         (a 403 or 404 to the OPTIONS) can also mean the URL names a bucket or path the server does \
         not have)",
        url = without_query(url),
    )
}

/// Whether a request's `Content-Type` goes to another origin without its preflight having to allow it
/// (Fetch, "CORS-safelisted request-header"): at most 128 bytes, no CORS-unsafe byte, and a type of
/// `application/x-www-form-urlencoded`, `multipart/form-data` (a multipart upload's) or `text/plain`.
pub fn safelisted_content_type(value: &str) -> bool {
    let unsafe_byte =
        |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f || br#""():<>?@[\]{}"#.contains(&b);
    let essence = value.split(';').next().unwrap_or_default().trim();
    value.len() <= 128
        && !value.bytes().any(unsafe_byte)
        && [
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "text/plain",
        ]
        .iter()
        .any(|t| essence.eq_ignore_ascii_case(t))
}

/// The headers of Ferry's own that a plain or multipart upload with this `Content-Type` carries and a
/// preflight must allow: its `Idempotency-Key`, and its `Content-Type` unless CORS lets it through
/// unasked (multipart's, `text/plain`).
pub fn own_headers_to_allow(content_type: Option<&str>) -> &'static [&'static str] {
    match content_type {
        Some(t) if !safelisted_content_type(t) => &["idempotency-key", "content-type"],
        _ => &["idempotency-key"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORIGIN: &str = "https://app.example";

    fn reason(headers: &[&str], credentials: Credentials, url: &str) -> String {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        refused_reason(
            "TypeError: Failed to fetch",
            "https://bucket.example",
            ORIGIN,
            "PUT",
            url,
            &headers,
            credentials,
        )
    }

    #[test]
    fn a_refused_request_names_the_answers_the_server_must_give() {
        let why = reason(
            &["idempotency-key", "content-type"],
            Credentials::SameOrigin,
            "https://bucket.example/o",
        );
        assert!(
            why.starts_with("TypeError: Failed to fetch (https://bucket.example answers"),
            "{why}"
        );
        assert!(why.contains(
            "preflight (OPTIONS) of PUT https://bucket.example/o with Access-Control-Allow-Origin: \
             https://app.example, Access-Control-Allow-Methods: PUT and Access-Control-Allow-Headers: \
             idempotency-key, content-type, and the PUT itself with Access-Control-Allow-Origin: \
             https://app.example too."
        ), "{why}");
        assert!(!why.contains("Allow-Credentials"), "{why}");
        assert!(
            why.contains("a bucket or path the server does not have"),
            "{why}"
        );
    }

    #[test]
    fn a_request_without_headers_of_its_own_names_no_header_list() {
        let why = reason(&[], Credentials::Omit, "https://bucket.example/o");
        assert!(why.contains(
            "with Access-Control-Allow-Origin: https://app.example and Access-Control-Allow-Methods: PUT, and the PUT itself"
        ), "{why}");
        assert!(!why.contains("Allow-Headers"), "{why}");
    }

    #[test]
    fn credentials_included_must_be_allowed_and_the_query_is_left_out() {
        let why = reason(
            &["idempotency-key"],
            Credentials::Include,
            "https://bucket.example/o?X-Amz-Signature=deadbeef#f",
        );
        assert!(why.contains(
            "too, each also with Access-Control-Allow-Credentials: true (this upload's credentials are 'include')."
        ), "{why}");
        assert!(
            why.contains("of PUT https://bucket.example/o with"),
            "{why}"
        );
        assert!(!why.contains("deadbeef"), "{why}");
    }

    #[test]
    fn a_content_type_cors_lets_through_is_not_one_to_allow() {
        for t in [
            "multipart/form-data; boundary=----WebKitFormBoundaryx1Y2z3",
            "text/plain;charset=UTF-8",
            "Application/X-WWW-Form-Urlencoded",
        ] {
            assert!(safelisted_content_type(t), "{t}");
        }
        for t in [
            "image/jpeg",
            "application/octet-stream",
            "application/offset+octet-stream",
            "text/plain; x=\"a\"",
            &format!("text/plain; {}", "a".repeat(130)),
        ] {
            assert!(!safelisted_content_type(t), "{t}");
        }
        assert_eq!(
            own_headers_to_allow(Some("image/png")),
            ["idempotency-key", "content-type"]
        );
        assert_eq!(
            own_headers_to_allow(Some("multipart/form-data; boundary=x")),
            ["idempotency-key"]
        );
        assert_eq!(own_headers_to_allow(None), ["idempotency-key"]);
    }
}
