//! tus `Upload-Metadata`: comma-separated `key base64value` pairs, decoded for the record so that a test
//! can check the filename or type a client declared. (A dozen lines of base64 beat a dependency.)

use std::collections::BTreeMap;

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn parse_metadata(header: &str) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut map = BTreeMap::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut it = pair.split_whitespace();
        let key = it.next().unwrap_or_default().to_string();
        let value = match it.next() {
            Some(v) => Some(
                String::from_utf8_lossy(
                    &base64(v).ok_or(format!("bad base64 in Upload-Metadata: {v}"))?,
                )
                .into_owned(),
            ),
            None => None,
        };
        if it.next().is_some() {
            return Err(format!("bad Upload-Metadata pair: {pair}"));
        }
        map.insert(key, value);
    }
    Ok(map)
}

fn base64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn metadata() {
        let m = super::parse_metadata(
            "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential, t YQ",
        )
        .unwrap();
        assert_eq!(m["filename"].as_deref(), Some("world_domination_plan.pdf"));
        assert_eq!(m["is_confidential"], None);
        assert_eq!(m["t"].as_deref(), Some("a"));
        assert!(super::parse_metadata("k !!").is_err());
    }
}
