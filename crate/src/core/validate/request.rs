//! URL, method and header rules: what fetch would reject, caught before the task is stored.

use crate::core::error::{Error, Result};
use crate::core::task::{Credentials, Method, Protocol};

/// Request headers a page may not set (Fetch standard "forbidden request-header"), lower-case.
/// The browser either rejects them or silently drops them, and a silently dropped header is worse:
/// the upload would go out different from what the page asked for.
const FORBIDDEN: &[&str] = &[
    "accept-charset",
    "accept-encoding",
    "access-control-request-headers",
    "access-control-request-method",
    "connection",
    "content-length",
    "cookie",
    "cookie2",
    "date",
    "dnt",
    "expect",
    "host",
    "keep-alive",
    "origin",
    "referer",
    "set-cookie",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "via",
];

/// Method-override headers: fetch forbids them when they name a forbidden method; Ferry forbids them
/// outright, because smuggling a different method past the method check defeats it.
const METHOD_OVERRIDES: &[&str] = &[
    "x-http-method",
    "x-http-method-override",
    "x-method-override",
];

/// Headers tus requests carry, which Ferry computes per request.
const TUS_OWNED: &[&str] = &[
    "tus-resumable",
    "upload-offset",
    "upload-length",
    "upload-metadata",
    "upload-defer-length",
    "upload-concat",
];

/// Checks the browser-resolved URL: http(s), with a host, without credentials. Returns it unchanged
/// (a fragment is fine: fetch drops it).
pub(super) fn validate_url(raw: &str, resolved: Option<&str>) -> Result<String> {
    let bad = |url: &str, reason: &str| {
        Err(Error::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        })
    };
    let Some(url) = resolved else {
        return bad(
            raw,
            "cannot be parsed; pass an absolute URL or a path relative to the page",
        );
    };
    let Some((scheme, rest)) = url.split_once(':') else {
        return bad(url, "has no scheme; pass an http: or https: URL");
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return bad(url, "has no valid scheme; pass an http: or https: URL");
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return bad(
            url,
            &format!(
                "uses the {scheme}: scheme, which cannot carry an upload; use http: or https:"
            ),
        );
    }
    let Some(after) = rest.strip_prefix("//") else {
        return bad(
            url,
            "has no host; pass a URL like https://example.com/upload",
        );
    };
    let authority = after.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return bad(url, "contains a username or password, which fetch refuses; send credentials in an Authorization header instead");
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, port)| {
        // An IPv6 literal's colons are inside brackets; only a trailing ":digits" is a port.
        if port.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            authority
        }
    });
    if host.is_empty() {
        return bad(
            url,
            "has no host; pass a URL like https://example.com/upload",
        );
    }
    if url.chars().any(|c| c.is_ascii_control() || c == ' ') {
        return bad(
            url,
            "contains spaces or control characters; percent-encode them",
        );
    }
    Ok(url.to_string())
}

/// Parses the method (default POST). Only methods that carry a body and that an upload server can
/// reasonably expect are accepted.
pub(super) fn validate_method(method: Option<&str>) -> Result<Method> {
    let Some(given) = method else {
        return Ok(Method::Post);
    };
    let bad = |reason: &str| {
        Err(Error::InvalidMethod {
            method: given.to_string(),
            reason: reason.to_string(),
        })
    };
    match given.to_ascii_uppercase().as_str() {
        "POST" => Ok(Method::Post),
        "PUT" => Ok(Method::Put),
        "PATCH" => Ok(Method::Patch),
        "GET" | "HEAD" => bad("cannot carry a body; use POST, PUT or PATCH"),
        "CONNECT" | "TRACE" | "TRACK" => bad("is forbidden by fetch; use POST, PUT or PATCH"),
        m if m.is_empty() || !m.bytes().all(is_tchar) => {
            bad("is not a valid HTTP method; use POST, PUT or PATCH")
        }
        _ => bad("is not supported for uploads; use POST, PUT or PATCH"),
    }
}

/// fetch's `credentials`, exactly as fetch spells it; `"same-origin"` (fetch's default) when missing.
pub(super) fn validate_credentials(given: Option<&str>) -> Result<Credentials> {
    match given {
        None | Some("same-origin") => Ok(Credentials::SameOrigin),
        Some("omit") => Ok(Credentials::Omit),
        Some("include") => Ok(Credentials::Include),
        Some(other) => Err(Error::options(
            "credentials",
            format!("is {other:?}; use 'omit', 'same-origin' or 'include', as in fetch"),
        )),
    }
}

/// Validates headers like fetch's `Headers` does, plus Ferry's own rules; trims values and lower-cases
/// names (fetch lower-cases them anyway, and it makes duplicate detection exact).
pub(super) fn validate_headers(
    headers: &[(String, String)],
    protocol: &Protocol,
) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        check_name(name, &lower, protocol)?;
        let value = check_value(name, value)?;
        if out.iter().any(|(n, _)| *n == lower) {
            return Err(Error::header(name, "is given twice (names are case-insensitive); combine the values into one, separated by \", \""));
        }
        out.push((lower, value));
    }
    Ok(out)
}

fn check_name(name: &str, lower: &str, protocol: &Protocol) -> Result<()> {
    if name.is_empty() || !name.bytes().all(is_tchar) {
        return Err(Error::header(
            name,
            "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only); fix the name",
        ));
    }
    if FORBIDDEN.contains(&lower) || lower.starts_with("proxy-") || lower.starts_with("sec-") {
        return Err(Error::header(
            name,
            "is set by the browser and may not be set by pages; remove it",
        ));
    }
    if METHOD_OVERRIDES.contains(&lower) {
        return Err(Error::header(name, "would override the HTTP method, which Ferry does not allow; set the method option instead"));
    }
    if lower == "idempotency-key" {
        return Err(Error::header(
            name,
            "is set by Ferry (the same key on every attempt, so retries are safe); remove it",
        ));
    }
    match protocol {
        Protocol::Multipart { .. } if lower == "content-type" => Err(Error::header(
            name,
            "is set by Ferry for multipart uploads because it carries the boundary; remove it (the part's type comes from the Blob)",
        )),
        Protocol::Tus { .. } if lower == "content-type" || TUS_OWNED.contains(&lower) => {
            Err(Error::header(name, "is set by Ferry for every tus request; remove it"))
        }
        _ => Ok(()),
    }
}

/// Trims HTTP whitespace like fetch, then rejects CR, LF, NUL and other control characters (header
/// injection) and non-ASCII. HTTP allows obs-text bytes, but a JS string's non-ASCII characters have no
/// single agreed byte encoding, so servers would see mojibake; encode such values (e.g.
/// `encodeURIComponent`) instead.
fn check_value(name: &str, value: &str) -> Result<String> {
    let trimmed = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    if let Some(c) = trimmed.chars().find(|c| matches!(c, '\r' | '\n' | '\0')) {
        return Err(Error::header(
            name,
            format!("has a value containing {c:?}, which would break the request; remove it"),
        ));
    }
    if let Some(c) = trimmed.chars().find(|c| c.is_ascii_control() && *c != '\t') {
        return Err(Error::header(
            name,
            format!("has a value containing the control character {c:?}; remove it"),
        ));
    }
    if let Some(c) = trimmed.chars().find(|c| !c.is_ascii()) {
        return Err(Error::header(
            name,
            format!(
                "has a value containing non-ASCII {c:?}; encode it, e.g. with encodeURIComponent"
            ),
        ));
    }
    Ok(trimmed.to_string())
}

/// RFC 9110 `tchar`: the characters of a token (header names, methods).
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
