//! What makes two usernames the same person: names are NFKC-normalised (fullwidth `ａ` is `a`,
//! decomposed accents are composed), invisible and text-direction characters are refused, and the
//! Unicode TR39 confusable skeleton of the case-folded name is what the database keeps unique, so a
//! Cyrillic `а` or a `rn` posing as `m` cannot pass for an existing user.

use unicode_normalization::UnicodeNormalization;

/// The NFKC form of a name (what is stored and shown).
pub fn nfkc(name: &str) -> String {
    name.nfkc().collect()
}

/// Characters that render as nothing or reorder text: Unicode's Default_Ignorable_Code_Point set
/// (zero-width space and joiners, soft hyphen, variation selectors, Hangul fillers, tags, …) and
/// the bidirectional controls (embeddings, overrides, isolates, marks).
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// The TR39 skeleton of an already case-folded name: two names with the same skeleton look alike.
pub fn skeleton(key: &str) -> String {
    unicode_security::skeleton(key).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item17_lookalikes_share_a_skeleton() {
        assert_eq!(nfkc("ａｌｉｃｅ"), "alice");
        assert_eq!(nfkc("jose\u{301}"), "jos\u{e9}");
        // Cyrillic а (U+0430) and е (U+0435) for Latin a and e.
        assert_eq!(skeleton("\u{430}lic\u{435}"), skeleton("alice"));
        assert_eq!(skeleton("rnallory"), skeleton("mallory"));
        assert_ne!(skeleton("alice"), skeleton("bob"));
        for c in ['\u{200B}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{AD}'] {
            assert!(is_invisible_or_bidi(c), "{c:?}");
        }
        assert!(!is_invisible_or_bidi('a') && !is_invisible_or_bidi('é'));
    }
}
