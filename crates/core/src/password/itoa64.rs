//! The `crypt(3)` base-64 alphabet (`./0-9A-Za-z`, often called "itoa64") and the two ways
//! crypt formats pack bits into it: little-endian groups (md5crypt, apr1, scrypt `$7$`) and the
//! big-endian bit stream of traditional DES crypt.

/// The 64 characters in value order: `.` is 0, `/` is 1, `0` is 2, ..., `z` is 63.
pub(super) const ALPHABET: &[u8; 64] =
    b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The character for the low six bits of `value`.
pub(super) fn char_for(value: u64) -> char {
    // `value & 63` is always a valid position in the 64-entry alphabet.
    ALPHABET
        .get((value & 63) as usize)
        .map_or('.', |&b| char::from(b))
}

/// The value (0..=63) of an alphabet character, or `None` for any other byte.
pub(super) fn value_of(c: u8) -> Option<u8> {
    let v = match c {
        b'.' => 0,
        b'/' => 1,
        b'0'..=b'9' => c - b'0' + 2,
        b'A'..=b'Z' => c - b'A' + 12,
        b'a'..=b'z' => c - b'a' + 38,
        _ => return None,
    };
    Some(v)
}

/// True when every byte of `s` is an alphabet character.
pub(super) fn is_itoa64(s: &str) -> bool {
    s.bytes().all(|c| value_of(c).is_some())
}

/// Appends `chars` characters encoding `value`, least significant six bits first.
pub(super) fn push_le(out: &mut String, mut value: u64, chars: usize) {
    for _ in 0..chars {
        out.push(char_for(value));
        value >>= 6;
    }
}

/// Decodes a fixed-width little-endian field (least significant six bits first).
/// `None` when a character is outside the alphabet or the value overflows 64 bits.
pub(super) fn decode_le(s: &str) -> Option<u64> {
    if s.len() > 10 {
        return None;
    }
    s.bytes().enumerate().try_fold(0u64, |acc, (i, c)| {
        let v = u64::from(value_of(c)?);
        Some(acc | (v << (6 * i)))
    })
}

/// Encodes bytes the way scrypt `$7$` and yescrypt do: each group of up to three bytes is read
/// as a little-endian integer and written least significant six bits first (4 characters per
/// full group, 2 or 3 for a final short group).
pub(super) fn encode_bytes_le(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let value = group
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        push_le(&mut out, value, (group.len() * 8).div_ceil(6));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_round_trips() {
        for (i, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(value_of(c), Some(i as u8));
            assert_eq!(char_for(i as u64), char::from(c));
        }
        assert_eq!(value_of(b'$'), None);
        assert_eq!(value_of(b'+'), None);
        assert!(is_itoa64("./09AZaz"));
        assert!(!is_itoa64("ab$"));
    }

    #[test]
    fn little_endian_fields() {
        let mut s = String::new();
        push_le(&mut s, 32, 5);
        assert_eq!(s, "U....");
        assert_eq!(decode_le("U...."), Some(32));
        assert_eq!(decode_le("/...."), Some(1));
        assert_eq!(decode_le("a$"), None);
        assert_eq!(decode_le("zzzzzzzzzzz"), None);
        assert_eq!(encode_bytes_le(&[0xff, 0xff, 0xff, 0x01]).len(), 6);
        assert_eq!(encode_bytes_le(&[0u8; 32]).len(), 43);
    }
}
