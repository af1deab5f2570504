//! Traditional Unix DES crypt: 13 characters, a two-character salt and an eleven-character
//! hash. The first eight password bytes (seven bits each) form a DES key that encrypts a zero
//! block 25 times, with the salt swapping pairs of bits in the expansion (E) table.
//!
//! Written from the DES standard (FIPS 46-3) and the published description of `crypt(3)`;
//! verification only, bit by bit, since speed does not matter (and must not) here.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::{PasswordError, itoa64};

/// Total length of a stored hash: 2 salt characters + 11 hash characters.
pub(super) const ENCODED_LEN: usize = 13;

/// Times the zero block is encrypted.
const ITERATIONS: usize = 25;

const MASK28: u64 = (1 << 28) - 1;
const MASK32: u64 = (1 << 32) - 1;

/// Initial permutation (1-based bit positions, most significant bit first).
const IP: [u8; 64] = [
    58, 50, 42, 34, 26, 18, 10, 2, 60, 52, 44, 36, 28, 20, 12, 4, //
    62, 54, 46, 38, 30, 22, 14, 6, 64, 56, 48, 40, 32, 24, 16, 8, //
    57, 49, 41, 33, 25, 17, 9, 1, 59, 51, 43, 35, 27, 19, 11, 3, //
    61, 53, 45, 37, 29, 21, 13, 5, 63, 55, 47, 39, 31, 23, 15, 7,
];

/// Final permutation, the inverse of [`IP`].
const FP: [u8; 64] = [
    40, 8, 48, 16, 56, 24, 64, 32, 39, 7, 47, 15, 55, 23, 63, 31, //
    38, 6, 46, 14, 54, 22, 62, 30, 37, 5, 45, 13, 53, 21, 61, 29, //
    36, 4, 44, 12, 52, 20, 60, 28, 35, 3, 43, 11, 51, 19, 59, 27, //
    34, 2, 42, 10, 50, 18, 58, 26, 33, 1, 41, 9, 49, 17, 57, 25,
];

/// Expansion of the 32-bit half block to 48 bits.
const E: [u8; 48] = [
    32, 1, 2, 3, 4, 5, 4, 5, 6, 7, 8, 9, //
    8, 9, 10, 11, 12, 13, 12, 13, 14, 15, 16, 17, //
    16, 17, 18, 19, 20, 21, 20, 21, 22, 23, 24, 25, //
    24, 25, 26, 27, 28, 29, 28, 29, 30, 31, 32, 1,
];

/// Permutation of the S-box output.
const P: [u8; 32] = [
    16, 7, 20, 21, 29, 12, 28, 17, 1, 15, 23, 26, 5, 18, 31, 10, //
    2, 8, 24, 14, 32, 27, 3, 9, 19, 13, 30, 6, 22, 11, 4, 25,
];

/// Permuted choice 1: 64-bit key to the 56-bit C/D registers.
const PC1: [u8; 56] = [
    57, 49, 41, 33, 25, 17, 9, 1, 58, 50, 42, 34, 26, 18, //
    10, 2, 59, 51, 43, 35, 27, 19, 11, 3, 60, 52, 44, 36, //
    63, 55, 47, 39, 31, 23, 15, 7, 62, 54, 46, 38, 30, 22, //
    14, 6, 61, 53, 45, 37, 29, 21, 13, 5, 28, 20, 12, 4,
];

/// Permuted choice 2: 56-bit C/D registers to a 48-bit round key.
const PC2: [u8; 48] = [
    14, 17, 11, 24, 1, 5, 3, 28, 15, 6, 21, 10, //
    23, 19, 12, 4, 26, 8, 16, 7, 27, 20, 13, 2, //
    41, 52, 31, 37, 47, 55, 30, 40, 51, 45, 33, 48, //
    44, 49, 39, 56, 34, 53, 46, 42, 50, 36, 29, 32,
];

/// Left rotations of C and D before each round.
const SHIFTS: [u32; 16] = [1, 1, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1];

/// The eight S-boxes, each as four rows of sixteen.
const SBOXES: [[u8; 64]; 8] = [
    [
        14, 4, 13, 1, 2, 15, 11, 8, 3, 10, 6, 12, 5, 9, 0, 7, //
        0, 15, 7, 4, 14, 2, 13, 1, 10, 6, 12, 11, 9, 5, 3, 8, //
        4, 1, 14, 8, 13, 6, 2, 11, 15, 12, 9, 7, 3, 10, 5, 0, //
        15, 12, 8, 2, 4, 9, 1, 7, 5, 11, 3, 14, 10, 0, 6, 13,
    ],
    [
        15, 1, 8, 14, 6, 11, 3, 4, 9, 7, 2, 13, 12, 0, 5, 10, //
        3, 13, 4, 7, 15, 2, 8, 14, 12, 0, 1, 10, 6, 9, 11, 5, //
        0, 14, 7, 11, 10, 4, 13, 1, 5, 8, 12, 6, 9, 3, 2, 15, //
        13, 8, 10, 1, 3, 15, 4, 2, 11, 6, 7, 12, 0, 5, 14, 9,
    ],
    [
        10, 0, 9, 14, 6, 3, 15, 5, 1, 13, 12, 7, 11, 4, 2, 8, //
        13, 7, 0, 9, 3, 4, 6, 10, 2, 8, 5, 14, 12, 11, 15, 1, //
        13, 6, 4, 9, 8, 15, 3, 0, 11, 1, 2, 12, 5, 10, 14, 7, //
        1, 10, 13, 0, 6, 9, 8, 7, 4, 15, 14, 3, 11, 5, 2, 12,
    ],
    [
        7, 13, 14, 3, 0, 6, 9, 10, 1, 2, 8, 5, 11, 12, 4, 15, //
        13, 8, 11, 5, 6, 15, 0, 3, 4, 7, 2, 12, 1, 10, 14, 9, //
        10, 6, 9, 0, 12, 11, 7, 13, 15, 1, 3, 14, 5, 2, 8, 4, //
        3, 15, 0, 6, 10, 1, 13, 8, 9, 4, 5, 11, 12, 7, 2, 14,
    ],
    [
        2, 12, 4, 1, 7, 10, 11, 6, 8, 5, 3, 15, 13, 0, 14, 9, //
        14, 11, 2, 12, 4, 7, 13, 1, 5, 0, 15, 10, 3, 9, 8, 6, //
        4, 2, 1, 11, 10, 13, 7, 8, 15, 9, 12, 5, 6, 3, 0, 14, //
        11, 8, 12, 7, 1, 14, 2, 13, 6, 15, 0, 9, 10, 4, 5, 3,
    ],
    [
        12, 1, 10, 15, 9, 2, 6, 8, 0, 13, 3, 4, 14, 7, 5, 11, //
        10, 15, 4, 2, 7, 12, 9, 5, 6, 1, 13, 14, 0, 11, 3, 8, //
        9, 14, 15, 5, 2, 8, 12, 3, 7, 0, 4, 10, 1, 13, 11, 6, //
        4, 3, 2, 12, 9, 5, 15, 10, 11, 14, 1, 7, 6, 0, 8, 13,
    ],
    [
        4, 11, 2, 14, 15, 0, 8, 13, 3, 12, 9, 7, 5, 10, 6, 1, //
        13, 0, 11, 7, 4, 9, 1, 10, 14, 3, 5, 12, 2, 15, 8, 6, //
        1, 4, 11, 13, 12, 3, 7, 14, 10, 15, 6, 8, 0, 5, 9, 2, //
        6, 11, 13, 8, 1, 4, 10, 7, 9, 5, 0, 15, 14, 2, 3, 12,
    ],
    [
        13, 2, 8, 4, 6, 15, 11, 1, 10, 9, 3, 14, 5, 0, 12, 7, //
        1, 15, 13, 8, 10, 3, 7, 4, 12, 5, 6, 11, 0, 14, 9, 2, //
        7, 11, 4, 1, 9, 12, 14, 2, 0, 6, 10, 13, 15, 3, 5, 8, //
        2, 1, 14, 7, 4, 10, 8, 13, 15, 12, 9, 0, 3, 5, 6, 11,
    ],
];

/// True when `stored` has the shape of a DES crypt hash.
pub(super) fn looks_like(stored: &str) -> bool {
    stored.len() == ENCODED_LEN && itoa64::is_itoa64(stored)
}

/// Verifies `password` against a 13-character DES crypt string.
pub(super) fn verify(password: &str, stored: &str) -> Result<bool, PasswordError> {
    if !looks_like(stored) {
        return Err(PasswordError::Malformed);
    }
    let (salt, hash) = stored.split_at(2);
    let salt = salt
        .bytes()
        .rev()
        .try_fold(0u32, |acc, c| {
            Some((acc << 6) | u32::from(itoa64::value_of(c)?))
        })
        .ok_or(PasswordError::Malformed)?;
    let computed = crypt(password.as_bytes(), salt);
    Ok(computed.as_bytes().ct_eq(hash.as_bytes()).into())
}

/// The eleven hash characters for `password` under the 12-bit `salt` (first salt character in
/// the low six bits).
fn crypt(password: &[u8], salt: u32) -> String {
    // Key: up to eight bytes (crypt(3) stops at a NUL), the seven low bits of each moved into
    // the top of its key byte; the low (parity) bit stays zero.
    let mut key = password
        .iter()
        .take_while(|&&b| b != 0)
        .take(8)
        .enumerate()
        .fold(0u64, |acc, (i, &b)| {
            acc | (u64::from(b & 0x7f) << (57 - 8 * i))
        });
    let mut round_keys = round_keys(key);
    key.zeroize();

    // Salt bit i swaps expansion outputs i and i + 24.
    let mut expansion = E;
    for bit in 0..12 {
        if (salt >> bit) & 1 == 1 {
            expansion.swap(bit, bit + 24);
        }
    }

    let mut block = 0u64;
    for _ in 0..ITERATIONS {
        block = encrypt(block, &round_keys, &expansion);
    }
    round_keys.zeroize();

    // 64 bits read as a big-endian stream of six-bit groups, padded with two zero bits.
    let stream = u128::from(block) << 2;
    let mut out = String::with_capacity(ENCODED_LEN - 2);
    for i in 0..11u32 {
        let group = (stream >> (60 - 6 * i)) & 63;
        out.push(itoa64::char_for(group as u64));
    }
    out
}

/// Selects bits of `input` (a `width`-bit value) by the 1-based, most-significant-first
/// positions in `table`; the result has `table.len()` bits.
fn permute(input: u64, width: u32, table: &[u8]) -> u64 {
    table.iter().fold(0u64, |acc, &pos| {
        (acc << 1) | ((input >> (width - u32::from(pos))) & 1)
    })
}

/// The sixteen 48-bit round keys of a 64-bit DES key.
fn round_keys(key: u64) -> [u64; 16] {
    let cd = permute(key, 64, &PC1);
    let (mut c, mut d) = ((cd >> 28) & MASK28, cd & MASK28);
    let rotate = |x: u64, n: u32| ((x << n) | (x >> (28 - n))) & MASK28;
    let mut keys = [0u64; 16];
    for (k, &shift) in keys.iter_mut().zip(SHIFTS.iter()) {
        c = rotate(c, shift);
        d = rotate(d, shift);
        *k = permute((c << 28) | d, 56, &PC2);
    }
    keys
}

/// One DES encryption of `block` with the given round keys and (salted) expansion table.
fn encrypt(block: u64, keys: &[u64; 16], expansion: &[u8; 48]) -> u64 {
    let permuted = permute(block, 64, &IP);
    let (mut left, mut right) = (permuted >> 32, permuted & MASK32);
    for &k in keys {
        let next = left ^ feistel(right, k, expansion);
        left = right;
        right = next;
    }
    permute((right << 32) | left, 64, &FP)
}

/// The round function: expand, mix in the round key, substitute, permute.
fn feistel(half: u64, round_key: u64, expansion: &[u8; 48]) -> u64 {
    let mixed = permute(half, 32, expansion) ^ round_key;
    let substituted = SBOXES.iter().enumerate().fold(0u64, |acc, (i, sbox)| {
        let six = (mixed >> (42 - 6 * i)) & 63;
        let row = ((six >> 4) & 2) | (six & 1);
        let column = (six >> 1) & 15;
        let index = usize::try_from(row * 16 + column).unwrap_or(usize::MAX);
        let value = sbox.get(index).copied().unwrap_or(0);
        (acc << 4) | u64::from(value)
    });
    permute(substituted, 32, &P)
}

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn tables_are_well_formed() {
        for sbox in &SBOXES {
            for row in sbox.chunks(16) {
                let mut seen = [false; 16];
                for &v in row {
                    seen[usize::from(v)] = true;
                }
                assert!(seen.iter().all(|&s| s), "S-box row is not a permutation");
            }
        }
        for (i, &p) in IP.iter().enumerate() {
            assert_eq!(
                usize::from(FP[usize::from(p) - 1]),
                i + 1,
                "FP is not IP^-1"
            );
        }
    }

    #[test]
    fn plain_des_known_answer() {
        // The classic worked example: key 133457799BBCDFF1, plaintext 0123456789ABCDEF.
        let keys = round_keys(0x1334_5779_9BBC_DFF1);
        assert_eq!(
            encrypt(0x0123_4567_89AB_CDEF, &keys, &E),
            0x85E8_1354_0F0A_B405
        );
    }

    /// Reference values produced by the system's libxcrypt `crypt(3)`.
    const VECTORS: &[(&str, &str)] = &[
        ("", "abmF1QH4PEr.E"),
        ("a", "abxxB7HlIeckU"),
        ("password", "abJnggxhB/yWI"),
        ("longpassword-beyond-eight", "abD6HAB6eqg.k"),
        ("été", "ab5ad2Q7liuxQ"),
        ("test", "./H7.I.sVn7zo"),
        ("test", "zzIUSbhjhhESA"),
        ("Hash-Test-1", "YAvYIDlgIr4vs"),
    ];

    #[test]
    fn reference_vectors_verify() {
        for &(password, hash) in VECTORS {
            assert!(verify(password, hash).unwrap(), "{hash}");
            assert!(!verify("wrong", hash).unwrap(), "{hash}");
        }
        // Only the first eight characters count.
        assert!(verify("longpass-anything", "abD6HAB6eqg.k").unwrap());
    }

    #[test]
    fn malformed_hashes_are_errors() {
        for bad in [
            "",
            "ab",
            "abmF1QH4PEr.",
            "abmF1QH4PEr.EE",
            "ab$F1QH4PEr.E",
            "abmF1QH4PEré",
        ] {
            assert!(
                matches!(verify("x", bad), Err(PasswordError::Malformed)),
                "{bad}"
            );
        }
    }
}
