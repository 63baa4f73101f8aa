//! What a server's answer said, for the reason of a `retrying` or `failed` event: the status alone
//! ("403 Forbidden") rarely tells a user what to fix, while S3's `SignatureDoesNotMatch`, a proxy's
//! error page title or an API's JSON error usually does. The whole body stays in `response.body`.

use crate::core::event::ResponseInfo;
use crate::core::s3;

/// At most this many characters of what the server said go into a reason.
pub const SAID_MAX: usize = 200;

/// `reason` with what a non-2xx `response` said, when it said something the reason does not already.
pub fn with_said(reason: &str, response: Option<&ResponseInfo>) -> String {
    let said = response
        .filter(|r| !(200..300).contains(&r.status))
        .and_then(|r| said(&r.body))
        .filter(|said| !reason.contains(said.as_str()));
    match said {
        Some(said) => format!("{reason} (the server said: {said})"),
        None => reason.to_string(),
    }
}

/// The gist of a response body on one line: an S3 error's code and message, an HTML page's title,
/// else the body's first line; whitespace collapsed, cut at [`SAID_MAX`] characters. `None` when
/// there is nothing to say (an empty body, an HTML page without a title).
pub fn said(body: &str) -> Option<String> {
    let body = body.trim();
    let text = if let Some(code) = s3::error_code(body) {
        match s3::element(body, "Message").filter(|m| !m.is_empty()) {
            Some(message) => format!("{code}: {message}"),
            None => code,
        }
    } else if body.starts_with('<') {
        title(body)?
    } else {
        body.lines().next().unwrap_or_default().to_string()
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        return None;
    }
    Some(match text.char_indices().nth(SAID_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

/// An HTML page's `<title>` (ASCII case folding keeps byte offsets, so `lower` indexes `html`).
fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title>")? + "<title>".len();
    let len = lower[start..].find("</title>")?;
    Some(html[start..start + len].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> ResponseInfo {
        ResponseInfo {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    #[test]
    fn an_s3_error_says_its_code_and_message() {
        let xml =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
                   <Message>The request signature we calculated does not match the signature you \
                   provided.</Message><RequestId>1</RequestId></Error>";
        assert_eq!(
            said(xml).as_deref(),
            Some("SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.")
        );
        assert_eq!(
            said("<Error><Code>AccessDenied</Code></Error>").as_deref(),
            Some("AccessDenied")
        );
    }

    #[test]
    fn an_html_page_says_its_title_and_nothing_without_one() {
        let page = "<html><head><TITLE>502 Bad\n  Gateway</TITLE></head><body><h1>nginx</h1></body></html>";
        assert_eq!(said(page).as_deref(), Some("502 Bad Gateway"));
        assert_eq!(said("<html><body>down</body></html>"), None);
    }

    #[test]
    fn any_other_body_says_its_first_line_cut_to_the_limit() {
        assert_eq!(
            said("  {\"error\":\"file too large\"}\n{\"more\":1}").as_deref(),
            Some("{\"error\":\"file too large\"}")
        );
        assert_eq!(said("   \n "), None);
        let long = "é".repeat(SAID_MAX + 10);
        let cut = said(&long).unwrap();
        assert_eq!(cut.chars().count(), SAID_MAX + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(
            said(&"x".repeat(SAID_MAX)).unwrap().chars().count(),
            SAID_MAX
        );
    }

    #[test]
    fn a_reason_gains_what_a_refusal_said_once_and_never_for_a_success() {
        let refused = answer(
            403,
            "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
        );
        assert_eq!(
            with_said("403 Forbidden on attempt 1", Some(&refused)),
            "403 Forbidden on attempt 1 (the server said: AccessDenied: Request has expired)"
        );
        // Said already (S3's retried codes are named in the reason itself).
        let busy = answer(
            503,
            "<Error><Code>SlowDown</Code><Message>Reduce your rate</Message></Error>",
        );
        let reason = "network error: UploadPart answered 503 with error SlowDown: Reduce your rate";
        assert_eq!(with_said(reason, Some(&busy)), reason);
        assert_eq!(with_said("timeout", Some(&answer(200, "fine"))), "timeout");
        assert_eq!(
            with_said("503 Service Unavailable", Some(&answer(503, ""))),
            "503 Service Unavailable"
        );
        assert_eq!(with_said("timeout", None), "timeout");
    }
}
