//! A streaming `multipart/form-data` parser: fed the body chunk by chunk as it arrives, it hashes each
//! part without ever holding more than a part's headers and a boundary's length of data.
//!
//! Hand-written rather than `multer` because the server already owns the byte stream (it also hashes and
//! stores the raw body), so a synchronous "feed these bytes" parser plugs in without a second task or
//! channel, and it keeps the build small. Browsers' `FormData` bodies are all it has to understand.

use memchr::memmem::Finder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::record::hex;

/// What the server saw of one part.
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Part {
    pub name: Option<String>,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Before the first delimiter (the preamble is ignored).
    Preamble,
    /// Just after a delimiter: either `--` (the end) or a line break before the part's headers.
    AfterDelimiter,
    Headers,
    Body,
    /// After the closing delimiter (the epilogue is ignored).
    Done,
}

/// Part headers larger than this are treated as a malformed body rather than buffered without end.
const MAX_HEADERS: usize = 64 * 1024;

pub struct Multipart {
    /// `\r\n--boundary`: a part's data ends right before it.
    delimiter: Finder<'static>,
    delimiter_len: usize,
    buf: Vec<u8>,
    state: State,
    parts: Vec<Part>,
    current: Option<(Part, Sha256)>,
    error: Option<String>,
}

impl Multipart {
    pub fn new(boundary: &str) -> Multipart {
        let delimiter = format!("\r\n--{boundary}").into_bytes();
        Multipart {
            delimiter_len: delimiter.len(),
            delimiter: Finder::new(&delimiter).into_owned(),
            // The first delimiter may open the body without a preceding line break: pretend there was one.
            buf: b"\r\n".to_vec(),
            state: State::Preamble,
            parts: Vec::new(),
            current: None,
            error: None,
        }
    }

    pub fn feed(&mut self, data: &[u8]) {
        if self.error.is_some() || self.state == State::Done {
            return;
        }
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        while let Some(consumed) = self.step(pos) {
            pos += consumed;
        }
        self.buf.drain(..pos);
    }

    /// Ends the body: the parts seen, and an error if the body was not a complete multipart body.
    pub fn finish(mut self) -> (Vec<Part>, Option<String>) {
        if self.error.is_none() && self.state != State::Done {
            if let Some((part, hasher)) = self.current.take() {
                self.parts.push(Part {
                    sha256: hex(&hasher.finalize()),
                    ..part
                });
            }
            self.error = Some("the body ended before the closing boundary".into());
        }
        (self.parts, self.error)
    }

    /// One parsing step on `buf[pos..]`; returns how many bytes it consumed, or None to wait for more.
    fn step(&mut self, pos: usize) -> Option<usize> {
        let rest = &self.buf[pos..];
        match self.state {
            State::Preamble => match self.delimiter.find(rest) {
                Some(at) => {
                    self.state = State::AfterDelimiter;
                    Some(at + self.delimiter_len)
                }
                // Keep just enough to recognize a delimiter split across chunks.
                None => rest
                    .len()
                    .checked_sub(self.delimiter_len - 1)
                    .filter(|&n| n > 0),
            },
            State::AfterDelimiter => {
                if rest.len() < 2 {
                    return None;
                }
                if rest.starts_with(b"--") {
                    self.state = State::Done;
                    return None;
                }
                let Some(eol) = memchr::memmem::find(rest, b"\r\n") else {
                    if rest.len() > 256 {
                        self.fail("garbage after a boundary");
                    }
                    return None;
                };
                if rest[..eol].iter().any(|b| !matches!(b, b' ' | b'\t')) {
                    self.fail("garbage after a boundary");
                    return None;
                }
                self.state = State::Headers;
                Some(eol + 2)
            }
            State::Headers => {
                let (head_len, consumed) = if rest.starts_with(b"\r\n") {
                    (0, 2)
                } else {
                    match memchr::memmem::find(rest, b"\r\n\r\n") {
                        Some(end) => (end, end + 4),
                        None => {
                            if rest.len() > MAX_HEADERS {
                                self.fail("part headers too large");
                            }
                            return None;
                        }
                    }
                };
                let part = parse_headers(&String::from_utf8_lossy(&rest[..head_len]));
                self.current = Some((part, Sha256::new()));
                self.state = State::Body;
                Some(consumed)
            }
            State::Body => {
                let (data_len, consumed) = match self.delimiter.find(rest) {
                    Some(at) => (at, Some(at + self.delimiter_len)),
                    None => (rest.len().saturating_sub(self.delimiter_len - 1), None),
                };
                let (part, hasher) = self.current.as_mut().expect("a part is open in Body state");
                part.bytes += data_len as u64;
                hasher.update(&rest[..data_len]);
                match consumed {
                    Some(n) => {
                        let (part, hasher) = self.current.take().expect("a part is open");
                        self.parts.push(Part {
                            sha256: hex(&hasher.finalize()),
                            ..part
                        });
                        self.state = State::AfterDelimiter;
                        Some(n)
                    }
                    None => Some(data_len).filter(|&n| n > 0),
                }
            }
            State::Done => None,
        }
    }

    fn fail(&mut self, why: &str) {
        self.error = Some(why.to_string());
    }
}

/// The `multipart/form-data` boundary of a Content-Type, if it is one.
pub fn boundary(content_type: &str) -> Option<Result<String, String>> {
    let mut params = split_params(content_type).into_iter();
    let mime = params.next()?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let found = params.find_map(|p| param(&p, "boundary"));
    Some(match found {
        Some(b) if !b.is_empty() && b.len() <= 200 => Ok(b),
        _ => Err("multipart/form-data without a usable boundary".into()),
    })
}

fn parse_headers(head: &str) -> Part {
    let mut part = Part {
        name: None,
        filename: None,
        content_type: None,
        bytes: 0,
        sha256: String::new(),
    };
    for line in head.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.trim().eq_ignore_ascii_case("content-disposition") {
            for p in split_params(value).iter().skip(1) {
                if let Some(v) = param(p, "name") {
                    part.name = Some(v);
                } else if let Some(v) = param(p, "filename") {
                    part.filename = Some(v);
                }
            }
        } else if name.trim().eq_ignore_ascii_case("content-type") {
            part.content_type = Some(value.to_string());
        }
    }
    part
}

/// Splits `a; b="x;y"; c` on semicolons outside quotes.
fn split_params(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted, mut escaped) = (Vec::new(), String::new(), false, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

/// The value of `key=value` or `key="quoted value"` (case-insensitive key), unquoted.
fn param(p: &str, key: &str) -> Option<String> {
    let (k, v) = p.split_once('=')?;
    if !k.trim().eq_ignore_ascii_case(key) {
        return None;
    }
    let v = v.trim();
    let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return Some(v.to_string());
    };
    let (mut out, mut escaped) = (String::new(), false);
    for c in inner.chars() {
        if c == '\\' && !escaped {
            escaped = true;
            continue;
        }
        escaped = false;
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        hex(&Sha256::digest(data))
    }

    fn body(file: &[u8]) -> Vec<u8> {
        let mut b = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"meta\"\r\n\r\n{\"a\":1}\r\n".to_vec();
        b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\"; b.bin\"\r\n");
        b.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n");
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--XyZ--\r\nepilogue");
        b
    }

    #[test]
    fn parses_parts_whatever_the_chunking() {
        let file: Vec<u8> = (0..3000u32)
            .map(|i| (i * 7 % 251) as u8)
            .chain(*b"\r\n--XyQ\r\n--Xy")
            .collect();
        let whole = body(&file);
        for chunk in [1, 2, 3, 5, 7, 13, 64, 1000, whole.len()] {
            let mut m = Multipart::new("XyZ");
            for c in whole.chunks(chunk) {
                m.feed(c);
            }
            let (parts, error) = m.finish();
            assert_eq!(error, None, "chunk {chunk}");
            assert_eq!(parts.len(), 2, "chunk {chunk}");
            assert_eq!(parts[0].name.as_deref(), Some("meta"));
            assert_eq!(parts[0].filename, None);
            assert_eq!(parts[0].sha256, sha(b"{\"a\":1}"));
            assert_eq!(parts[1].filename.as_deref(), Some("a \"q\"; b.bin"));
            assert_eq!(
                parts[1].content_type.as_deref(),
                Some("application/octet-stream")
            );
            assert_eq!(parts[1].bytes, file.len() as u64, "chunk {chunk}");
            assert_eq!(parts[1].sha256, sha(&file), "chunk {chunk}");
        }
    }

    #[test]
    fn truncated_bodies_and_boundaries() {
        let whole = body(b"hello");
        let mut m = Multipart::new("XyZ");
        m.feed(&whole[..whole.len() - 20]);
        let (parts, error) = m.finish();
        assert!(error.is_some());
        assert_eq!(parts.len(), 2);
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b\""),
            Some(Ok("a b".into()))
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=x;boundary=q"),
            Some(Ok("q".into()))
        );
        assert!(matches!(boundary("multipart/form-data"), Some(Err(_))));
        assert_eq!(boundary("application/json"), None);
    }
}
