//! OCRA, the OATH challenge-response algorithm (RFC 6287): parsing an OCRA suite
//! (`OCRA-1:HOTP-SHA256-8:C-QA64-PSHA1-S064-T1M`), building the data input a suite names, and
//! computing the response. Pure: the caller passes counter, challenge, PIN, session data and the
//! time step in.

use super::OtpError;
use super::hash::{HashAlg, hmac};

/// The suite keyward enrols by default (LinOTP's ocra2 default).
pub const DEFAULT_SUITE: &str = "OCRA-1:HOTP-SHA256-8:QA64";

/// How the challenge (question) is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuestionKind {
    /// `QN`: decimal digits, encoded as the hex form of the number.
    Numeric,
    /// `QA`: any printable characters, encoded as their bytes.
    Alphanumeric,
    /// `QH`: hex digits, encoded as they are.
    Hex,
}

/// A parsed OCRA suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcraSuite {
    text: String,
    pub hash: HashAlg,
    /// Response length, 4 to 10 digits.
    pub digits: u32,
    /// `C`: an 8-byte counter is part of the input.
    pub counter: bool,
    pub question: QuestionKind,
    /// The longest challenge the suite allows (4 to 64).
    pub question_max: usize,
    /// `PSHA1|PSHA256|PSHA512`: the hash of the PIN is part of the input.
    pub pin_hash: Option<HashAlg>,
    /// `Snnn`: that many bytes of session information are part of the input.
    pub session_len: Option<usize>,
    /// `Tx`: the time step in seconds; the number of steps since the epoch is part of the input.
    pub time_step: Option<u64>,
}

fn bad(suite: &str, why: &str) -> OtpError {
    OtpError::BadOcraSuite(format!("{suite}: {why}"))
}

fn two_digits(s: &str) -> Option<usize> {
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// `1M`, `30S`, `24H`: a time step in seconds (RFC 6287 §6.3 ranges).
fn time_step(s: &str) -> Option<u64> {
    let unit = s.chars().last()?;
    let n: u64 = s.get(..s.len() - 1)?.parse().ok()?;
    match unit {
        'S' if (1..=59).contains(&n) => Some(n),
        'M' if (1..=59).contains(&n) => Some(n * 60),
        'H' if (1..=48).contains(&n) => Some(n * 3600),
        _ => None,
    }
}

impl OcraSuite {
    /// Parses `OCRA-1:HOTP-<SHA1|SHA256|SHA512>-<digits>:[C-]Q<N|A|H><nn>[-P<hash>][-Snnn][-T<step>]`.
    pub fn parse(suite: &str) -> Result<OcraSuite, OtpError> {
        let text = suite.trim();
        let mut parts = text.split(':');
        let (Some(algorithm), Some(crypto), Some(data), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad(text, "expected ALGORITHM:CRYPTOFUNCTION:DATAINPUT"));
        };
        if algorithm != "OCRA-1" {
            return Err(bad(text, "the algorithm must be OCRA-1"));
        }
        let mut crypto_parts = crypto.split('-');
        let (Some("HOTP"), Some(hash), Some(digits), None) = (
            crypto_parts.next(),
            crypto_parts.next(),
            crypto_parts.next(),
            crypto_parts.next(),
        ) else {
            return Err(bad(text, "the crypto function must be HOTP-SHAx-DIGITS"));
        };
        let hash = match hash {
            "SHA1" => HashAlg::Sha1,
            "SHA256" => HashAlg::Sha256,
            "SHA512" => HashAlg::Sha512,
            _ => return Err(bad(text, "the hash must be SHA1, SHA256 or SHA512")),
        };
        let digits: u32 = match digits.parse() {
            Ok(d @ 4..=10) => d,
            _ => return Err(bad(text, "the response length must be 4 to 10 digits")),
        };
        let mut out = OcraSuite {
            text: text.to_string(),
            hash,
            digits,
            counter: false,
            question: QuestionKind::Numeric,
            question_max: 0,
            pin_hash: None,
            session_len: None,
            time_step: None,
        };
        let mut items = data.split('-').peekable();
        if items.peek() == Some(&"C") {
            out.counter = true;
            items.next();
        }
        let q = items
            .next()
            .ok_or_else(|| bad(text, "the challenge format Qxnn is missing"))?;
        out.question = match q.get(..2) {
            Some("QN") => QuestionKind::Numeric,
            Some("QA") => QuestionKind::Alphanumeric,
            Some("QH") => QuestionKind::Hex,
            _ => return Err(bad(text, "the challenge format must be QN, QA or QH")),
        };
        out.question_max = match q.get(2..).and_then(two_digits) {
            Some(n @ 4..=64) => n,
            _ => return Err(bad(text, "the challenge length must be 04 to 64")),
        };
        // P, S and T, each at most once, in this order.
        let mut rank = 0;
        for item in items {
            let (r, ok) = match item.as_bytes().first() {
                Some(b'P') => {
                    out.pin_hash = match &item[1..] {
                        "SHA1" => Some(HashAlg::Sha1),
                        "SHA256" => Some(HashAlg::Sha256),
                        "SHA512" => Some(HashAlg::Sha512),
                        _ => None,
                    };
                    (1, out.pin_hash.is_some())
                }
                Some(b'S') => {
                    let n = item[1..].parse::<usize>().ok().filter(|n| {
                        item.len() == 4
                            && (1..=512).contains(n)
                            && item[1..].bytes().all(|b| b.is_ascii_digit())
                    });
                    out.session_len = n;
                    (2, n.is_some())
                }
                Some(b'T') => {
                    out.time_step = time_step(&item[1..]);
                    (3, out.time_step.is_some())
                }
                _ => (0, false),
            };
            if !ok || r <= rank {
                return Err(bad(text, &format!("unexpected data input {item:?}")));
            }
            rank = r;
        }
        Ok(out)
    }

    /// The suite as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Checks a challenge against the suite: its alphabet and at most `question_max` characters
    /// (at least 4, as RFC 6287 §6.3 asks).
    pub fn check_challenge(&self, q: &str) -> Result<(), OtpError> {
        let n = q.chars().count();
        let alphabet_ok = match self.question {
            QuestionKind::Numeric => q.bytes().all(|b| b.is_ascii_digit()),
            QuestionKind::Hex => q.bytes().all(|b| b.is_ascii_hexdigit()),
            QuestionKind::Alphanumeric => q.chars().all(|c| c.is_ascii_graphic()),
        };
        if !alphabet_ok || !(4..=self.question_max).contains(&n) {
            return Err(OtpError::BadOcraChallenge(format!(
                "a challenge of 4 to {} {} characters",
                self.question_max,
                match self.question {
                    QuestionKind::Numeric => "decimal",
                    QuestionKind::Hex => "hex",
                    QuestionKind::Alphanumeric => "printable ASCII",
                }
            )));
        }
        Ok(())
    }

    /// A random challenge of `len` characters (clamped to 4..=question_max) in the suite's
    /// alphabet.
    pub fn random_challenge(&self, len: usize) -> Result<String, OtpError> {
        const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        const HEX: &[u8] = b"0123456789ABCDEF";
        const DIGITS: &[u8] = b"0123456789";
        let alphabet = match self.question {
            QuestionKind::Numeric => DIGITS,
            QuestionKind::Hex => HEX,
            QuestionKind::Alphanumeric => ALNUM,
        };
        let len = len.clamp(4, self.question_max.max(4));
        let mut out = String::with_capacity(len);
        for _ in 0..len {
            let i = crate::random::below(alphabet.len() as u64).map_err(|_| OtpError::Random)?;
            let c = alphabet
                .get(usize::try_from(i).unwrap_or(0))
                .copied()
                .unwrap_or(b'0');
            out.push(char::from(c));
        }
        Ok(out)
    }
}

impl std::fmt::Display for OcraSuite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// The variable inputs of one OCRA computation (only those the suite names are used).
#[derive(Clone, Debug, Default)]
pub struct OcraInput<'a> {
    pub counter: u64,
    pub question: &'a str,
    /// The PIN itself; hashed with the suite's P hash.
    pub pin: &'a [u8],
    /// Session information, right-aligned in the suite's `Snnn` bytes.
    pub session: &'a [u8],
    /// Time steps since the epoch (seconds / the suite's step).
    pub time_steps: u64,
}

/// Decimal digits to the hex digits of the same number, without leading zeros ("0" for zero).
fn decimal_to_hex(digits: &str) -> String {
    // Big number in base 256, most significant byte first.
    let mut num: Vec<u8> = Vec::new();
    for d in digits.bytes() {
        let mut carry = u32::from(d - b'0');
        for byte in num.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            num.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let hex = data_encoding::HEXUPPER.encode(&num);
    let trimmed = hex.trim_start_matches('0');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

/// The 128-byte question block: the challenge's hex form, left-aligned and zero-filled.
fn question_block(kind: QuestionKind, q: &str) -> Result<Vec<u8>, OtpError> {
    let hex = match kind {
        QuestionKind::Numeric if q.bytes().all(|b| b.is_ascii_digit()) && !q.is_empty() => {
            decimal_to_hex(q)
        }
        QuestionKind::Hex if q.bytes().all(|b| b.is_ascii_hexdigit()) => q.to_ascii_uppercase(),
        QuestionKind::Alphanumeric => data_encoding::HEXUPPER.encode(q.as_bytes()),
        _ => {
            return Err(OtpError::BadOcraChallenge(
                "the challenge does not match the suite's format".into(),
            ));
        }
    };
    if hex.len() > 256 {
        return Err(OtpError::BadOcraChallenge(
            "the challenge is longer than 128 bytes".into(),
        ));
    }
    let padded = format!("{hex:0<256}");
    data_encoding::HEXUPPER
        .decode(padded.as_bytes())
        .map_err(|_| OtpError::BadOcraChallenge("the challenge is not valid".into()))
}

fn digest(alg: HashAlg, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    match alg {
        HashAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
        HashAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
        HashAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

/// The OCRA data input (RFC 6287 §5.1): suite, 0x00, then C, Q, P, S, T as the suite names them.
pub fn data_input(suite: &OcraSuite, input: &OcraInput<'_>) -> Result<Vec<u8>, OtpError> {
    let mut msg = suite.text.as_bytes().to_vec();
    msg.push(0);
    if suite.counter {
        msg.extend_from_slice(&input.counter.to_be_bytes());
    }
    msg.extend(question_block(suite.question, input.question)?);
    if let Some(alg) = suite.pin_hash {
        msg.extend(digest(alg, input.pin));
    }
    if let Some(len) = suite.session_len {
        if input.session.len() > len {
            return Err(OtpError::BadOcraChallenge(format!(
                "the session information is longer than {len} bytes"
            )));
        }
        msg.extend(std::iter::repeat_n(0u8, len - input.session.len()));
        msg.extend_from_slice(input.session);
    }
    if suite.time_step.is_some() {
        msg.extend_from_slice(&input.time_steps.to_be_bytes());
    }
    Ok(msg)
}

/// The OCRA response: HMAC of the data input, truncated as HOTP does to the suite's digits.
pub fn ocra(suite: &OcraSuite, key: &[u8], input: &OcraInput<'_>) -> Result<String, OtpError> {
    let mac = hmac(suite.hash, key, &data_input(suite, input)?);
    let offset = mac.last().map(|b| usize::from(b & 0x0f)).unwrap_or(0);
    let Some(&[b0, b1, b2, b3]) = mac.get(offset..offset + 4) else {
        return Err(OtpError::BadOcraChallenge("empty HMAC".into()));
    };
    let code = u32::from_be_bytes([b0 & 0x7f, b1, b2, b3]);
    let value = u64::from(code) % 10u64.pow(suite.digits);
    Ok(format!("{value:0width$}", width = suite.digits as usize))
}

#[cfg(test)]
#[path = "ocra_tests.rs"]
mod tests;
