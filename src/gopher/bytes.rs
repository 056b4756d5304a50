//! Bytes as they go on the wire, shown and stored as one readable string: printable ASCII
//! as is, the rest as `\r`, `\n`, `\t`, `\xNN` (Rust's `escape_ascii`, and back).

/// `"…"` around the escaped bytes, as the tables show a request or a reply.
pub fn quoted(b: &[u8]) -> String {
    format!("\"{}\"", b.escape_ascii())
}

/// Bytes in JSON as one readable string: printable ASCII as is, the rest as \r \n \t \xNN.
pub mod bytes_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&b.escape_ascii().to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        unescape(&String::deserialize(d)?).ok_or_else(|| D::Error::custom("bad escape in bytes"))
    }

    /// The inverse of `escape_ascii`.
    pub fn unescape(s: &str) -> Option<Vec<u8>> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                out.push(b[i]);
                i += 1;
                continue;
            }
            let (byte, len) = match *b.get(i + 1)? {
                b'r' => (b'\r', 2),
                b'n' => (b'\n', 2),
                b't' => (b'\t', 2),
                c @ (b'\\' | b'\'' | b'"') => (c, 2),
                b'x' => (u8::from_str_radix(s.get(i + 2..i + 4)?, 16).ok()?, 4),
                _ => return None,
            };
            out.push(byte);
            i += len;
        }
        Some(out)
    }
}

/// A list of byte strings, each as [`bytes_text`].
pub mod bytes_list {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| b.escape_ascii().to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| super::bytes_text::unescape(s).ok_or_else(|| D::Error::custom("bad escape in bytes")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_their_text() {
        let b: Vec<u8> = (0u8..=255).collect();
        assert_eq!(bytes_text::unescape(&b.escape_ascii().to_string()), Some(b));
        assert_eq!(quoted(b"/\r\n"), "\"/\\r\\n\"");
    }
}
