//! URL, method and header validation: one test per rule, each asserting the exact error.

use super::tests::{err, header, input, run, with};
use super::*;

// --- URL ------------------------------------------------------------------------------------------

#[test]
fn unparsable_url_is_invalid_url() {
    let e = err(&with(|i| i.resolved_url = None));
    assert!(
        matches!(&e, Error::InvalidUrl { url, .. } if url == "/upload"),
        "{e}"
    );
    assert_eq!(e.name(), "FerryInvalidUrl");
}

#[test]
fn non_http_scheme_is_invalid_url() {
    for url in [
        "ftp://example.com/x",
        "data:text/plain,hi",
        "blob:https://example.com/uuid",
        "file:///etc/passwd",
    ] {
        let e = err(&with(|i| i.resolved_url = Some(url.into())));
        assert!(matches!(e, Error::InvalidUrl { .. }), "{url}: {e}");
    }
}

#[test]
fn url_with_credentials_is_invalid_url() {
    let e = err(&with(|i| {
        i.resolved_url = Some("https://user:pw@example.com/x".into())
    }));
    assert!(
        matches!(&e, Error::InvalidUrl { reason, .. } if reason.contains("Authorization")),
        "{e}"
    );
}

#[test]
fn url_without_host_is_invalid_url() {
    let e = err(&with(|i| i.resolved_url = Some("https:///x".into())));
    assert_eq!(e.name(), "FerryInvalidUrl");
}

#[test]
fn upper_case_scheme_and_ports_are_fine() {
    assert!(run(&with(
        |i| i.resolved_url = Some("HTTP://example.com:8080/x".into())
    ))
    .is_ok());
    assert!(run(&with(
        |i| i.resolved_url = Some("http://[::1]:3000/x".into())
    ))
    .is_ok());
}

// --- method ---------------------------------------------------------------------------------------

#[test]
fn get_is_invalid_method_because_it_has_no_body() {
    let e = err(&with(|i| i.method = Some("get".into())));
    assert!(
        matches!(&e, Error::InvalidMethod { reason, .. } if reason.contains("cannot carry a body")),
        "{e}"
    );
}

#[test]
fn head_is_invalid_method() {
    assert!(matches!(
        err(&with(|i| i.method = Some("HEAD".into()))),
        Error::InvalidMethod { .. }
    ));
}

#[test]
fn forbidden_methods_are_invalid_method() {
    for m in ["CONNECT", "trace", "TRACK"] {
        let e = err(&with(|i| i.method = Some(m.into())));
        assert!(
            matches!(&e, Error::InvalidMethod { reason, .. } if reason.contains("forbidden")),
            "{m}: {e}"
        );
    }
}

#[test]
fn other_methods_are_invalid_method() {
    for m in ["DELETE", "OPTIONS", "", "PO ST"] {
        assert_eq!(
            err(&with(|i| i.method = Some(m.into()))).name(),
            "FerryInvalidMethod",
            "{m:?}"
        );
    }
}

// --- headers --------------------------------------------------------------------------------------

#[test]
fn content_length_header_is_invalid_header() {
    let e = err(&header("Content-Length", "10"));
    assert_eq!(
        e.to_string(),
        "header \"Content-Length\" is set by the browser and may not be set by pages; remove it"
    );
}

#[test]
fn every_forbidden_header_is_invalid_header() {
    let names = [
        "Accept-Charset",
        "Accept-Encoding",
        "Access-Control-Request-Headers",
        "Access-Control-Request-Method",
        "Connection",
        "Cookie",
        "Cookie2",
        "Date",
        "DNT",
        "Expect",
        "Host",
        "Keep-Alive",
        "Origin",
        "Referer",
        "Set-Cookie",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Via",
    ];
    for n in names {
        assert!(
            matches!(err(&header(n, "x")), Error::InvalidHeader { .. }),
            "{n}"
        );
    }
}

#[test]
fn proxy_and_sec_prefixed_headers_are_invalid_header() {
    for n in [
        "Proxy-Authorization",
        "proxy-x",
        "Sec-Fetch-Mode",
        "sec-anything",
    ] {
        assert_eq!(err(&header(n, "x")).name(), "FerryInvalidHeader", "{n}");
    }
}

#[test]
fn method_override_headers_are_invalid_header() {
    for n in [
        "X-HTTP-Method",
        "X-HTTP-Method-Override",
        "X-Method-Override",
    ] {
        assert_eq!(
            err(&header(n, "DELETE")).name(),
            "FerryInvalidHeader",
            "{n}"
        );
    }
}

#[test]
fn idempotency_key_header_is_invalid_header_because_ferry_sets_it() {
    let e = err(&header("Idempotency-Key", "abc"));
    assert!(
        matches!(&e, Error::InvalidHeader { reason, .. } if reason.contains("set by Ferry")),
        "{e}"
    );
}

#[test]
fn duplicate_header_names_are_invalid_header() {
    let e = err(&with(|i| {
        i.headers = vec![("X-A".into(), "1".into()), ("x-a".into(), "2".into())]
    }));
    assert!(
        matches!(&e, Error::InvalidHeader { name, .. } if name == "x-a"),
        "{e}"
    );
}

#[test]
fn malformed_header_name_is_invalid_header() {
    for n in ["", "X A", "X:A", "Ä", "x\n"] {
        assert_eq!(err(&header(n, "v")).name(), "FerryInvalidHeader", "{n:?}");
    }
}

#[test]
fn header_value_with_newline_is_invalid_header() {
    assert!(matches!(
        err(&header("X-A", "a\r\nSet-Cookie: x")),
        Error::InvalidHeader { .. }
    ));
    assert!(matches!(
        err(&header("X-A", "a\0b")),
        Error::InvalidHeader { .. }
    ));
}

#[test]
fn header_value_with_non_ascii_is_invalid_header() {
    let e = err(&header("X-Name", "café"));
    assert!(
        matches!(&e, Error::InvalidHeader { reason, .. } if reason.contains("encodeURIComponent")),
        "{e}"
    );
}

#[test]
fn header_value_with_control_character_is_invalid_header() {
    assert_eq!(err(&header("X-A", "a\u{7}b")).name(), "FerryInvalidHeader");
}

#[test]
fn content_type_with_multipart_is_invalid_header() {
    let mut i = header("Content-Type", "multipart/form-data");
    i.protocol = Some("multipart".into());
    assert!(matches!(err(&i), Error::InvalidHeader { reason, .. } if reason.contains("boundary")));
}

#[test]
fn tus_owned_headers_are_invalid_header_for_tus() {
    let mut i = header("Upload-Offset", "0");
    i.protocol = Some("tus".into());
    assert_eq!(err(&i).name(), "FerryInvalidHeader");
}

#[test]
fn content_type_is_allowed_for_plain_http() {
    assert!(run(&header("Content-Type", "application/octet-stream")).is_ok());
}

// --- appData --------------------------------------------------------------------------------------

#[test]
fn app_data_is_kept_as_given() {
    assert_eq!(run(&input()).unwrap().app_data, None);
    let json = r#"{"photoId":42,"album":"Été"}"#;
    let v = run(&with(|i| i.app_data = Some(json.into()))).unwrap();
    assert_eq!(v.app_data.as_deref(), Some(json));
}

#[test]
fn app_data_longer_than_the_limit_is_invalid_options() {
    // The limit counts UTF-8 bytes: 4096 two-byte characters fit, one more does not.
    let at_limit = "é".repeat(APP_DATA_MAX_BYTES / 2);
    assert!(run(&with(|i| i.app_data = Some(at_limit.clone()))).is_ok());
    let e = err(&with(|i| i.app_data = Some(at_limit + "é")));
    assert!(
        matches!(&e, Error::InvalidOptions { option, reason } if option == "appData" && reason.starts_with("is 8194 bytes")),
        "{e}"
    );
    assert_eq!(e.name(), "FerryInvalidOptions");
}

// --- credentials ----------------------------------------------------------------------------------

#[test]
fn credentials_take_fetchs_three_values_and_default_to_same_origin() {
    use crate::core::task::Credentials;
    assert_eq!(
        run(&input()).unwrap().request.credentials,
        Credentials::SameOrigin
    );
    for (given, want) in [
        ("omit", Credentials::Omit),
        ("same-origin", Credentials::SameOrigin),
        ("include", Credentials::Include),
    ] {
        let v = run(&with(|i| i.credentials = Some(given.into()))).unwrap();
        assert_eq!(v.request.credentials, want, "{given}");
        assert_eq!(want.as_str(), given);
    }
}

#[test]
fn any_other_credentials_value_is_invalid_options() {
    // fetch's spelling only: a Request's values, not a cookie policy of Ferry's own.
    for given in ["Include", "true", "", "same_origin", "cors"] {
        let e = err(&with(|i| i.credentials = Some(given.into())));
        assert!(
            matches!(&e, Error::InvalidOptions { option, reason }
                if option == "credentials" && reason.contains("'omit', 'same-origin' or 'include'")),
            "{given}: {e}"
        );
        assert_eq!(e.name(), "FerryInvalidOptions");
    }
}
