//! A paper backup of the encryption key (LinOTP's idea, issue 9 item 1): `setup dump_enckey`
//! prints the 96-byte key as six numbered lines of hex, each ending with a checksum of its own
//! (over its number and its bytes, so a mistyped or swapped line is caught and named), and a
//! check of the whole key; `setup create_enckey --from-paper FILE` reads such a text back.

use clap::Parser;
use keyward_core::enckey::{ENCKEY_LEN, EncKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::access::Access;
use crate::context::Ctx;
use crate::keys::read_enckey;
use crate::output::{CommandError, Output};
use crate::registry::{CommandSpec, command};

/// Key bytes per paper line.
const PER_LINE: usize = 16;
const HEADER: &str = "keyward enckey paper backup";

pub fn commands() -> Vec<CommandSpec> {
    vec![
        command(
            "setup dump_enckey",
            "Print the enckey as a paper backup (checksummed lines; restore with create_enckey --from-paper)",
            dump_enckey,
        )
        .mutating_files()
        .example("setup dump_enckey")
        .allow(Access::Local),
    ]
}

fn line_checksum(number: u8, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"keyward-paper-line");
    h.update([number]);
    h.update(bytes);
    data_encoding::HEXLOWER.encode(&h.finalize()[..2])
}

fn key_check(key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"keyward-paper-key");
    h.update(key);
    data_encoding::HEXLOWER.encode(&h.finalize()[..4])
}

/// The paper text of `key`.
pub fn paper_text(key: &[u8]) -> String {
    let lines = key.len().div_ceil(PER_LINE);
    let mut out = format!(
        "{HEADER}: {} bytes in {lines} lines. Type each line exactly; the group after | is \
         its checksum.\n",
        key.len()
    );
    for (i, chunk) in key.chunks(PER_LINE).enumerate() {
        let number = u8::try_from(i + 1).unwrap_or(u8::MAX);
        let groups: Vec<String> = chunk
            .chunks(4)
            .map(|g| data_encoding::HEXLOWER.encode(g))
            .collect();
        out.push_str(&format!(
            "{number:02}: {} | {}\n",
            groups.join(" "),
            line_checksum(number, chunk)
        ));
    }
    out.push_str(&format!("key check: {}\n", key_check(key)));
    out
}

/// Reads a paper text back into key bytes; the error names the first bad line.
pub fn parse_paper(text: &str) -> Result<Vec<u8>, String> {
    let mut lines: Vec<(u8, Vec<u8>)> = Vec::new();
    let mut check = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = i + 1;
        if let Some(rest) = line.strip_prefix("key check:") {
            check = Some(rest.trim().to_ascii_lowercase());
            continue;
        }
        let Some((number, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(number) = number.trim().parse::<u8>() else {
            continue;
        };
        let (hex, sum) = rest
            .split_once('|')
            .ok_or_else(|| format!("line {at} (paper line {number:02}): no checksum after |"))?;
        let hex: String = hex
            .split_whitespace()
            .collect::<String>()
            .to_ascii_lowercase();
        let bytes = data_encoding::HEXLOWER
            .decode(hex.as_bytes())
            .map_err(|_| format!("line {at} (paper line {number:02}): not hexadecimal"))?;
        if line_checksum(number, &bytes) != sum.trim().to_ascii_lowercase() {
            return Err(format!(
                "line {at} (paper line {number:02}): checksum does not match: retype that line"
            ));
        }
        if lines.iter().any(|(n, _)| *n == number) {
            return Err(format!("line {at}: paper line {number:02} appears twice"));
        }
        lines.push((number, bytes));
    }
    lines.sort_by_key(|(n, _)| *n);
    for (i, (n, _)) in lines.iter().enumerate() {
        if usize::from(*n) != i + 1 {
            return Err(format!("paper line {:02} is missing", i + 1));
        }
    }
    let key: Vec<u8> = lines.into_iter().flat_map(|(_, b)| b).collect();
    if key.len() != ENCKEY_LEN {
        return Err(format!(
            "the paper lines hold {} bytes, an enckey has {ENCKEY_LEN}: a line is missing",
            key.len()
        ));
    }
    if let Some(check) = check
        && check != key_check(&key)
    {
        return Err("the key check does not match the lines: retype the key check line".into());
    }
    Ok(key)
}

/// Reads a paper backup file into a key.
pub fn key_from_paper(path: &std::path::Path) -> Result<EncKey, CommandError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::NotFound(format!("cannot read {}: {e}", path.display())))?;
    let bytes = parse_paper(&text)
        .map_err(|e| CommandError::Invalid(format!("{}: {e}", path.display())))?;
    EncKey::from_bytes(&bytes).map_err(CommandError::invalid)
}

#[derive(Parser)]
struct NoArgs {}

async fn dump_enckey(ctx: Ctx, _a: NoArgs) -> Result<Output, CommandError> {
    let path = ctx.settings().enckey_path();
    let key = read_enckey(&path)?;
    let text = paper_text(&key.to_bytes());
    let lines: Vec<&str> = text.lines().collect();
    Ok(Output::new(text.clone(), json!({ "paper": lines }))
        .with_audit(format!("printed a paper backup of {}", path.display())))
}

crate::no_targets!(NoArgs);

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<u8> {
        (0..ENCKEY_LEN).map(|i| (i * 7 % 256) as u8).collect()
    }

    #[test]
    fn paper_round_trips() {
        let text = paper_text(&key());
        assert_eq!(text.lines().count(), 8, "{text}");
        assert_eq!(parse_paper(&text).unwrap(), key());
        // Spacing and case do not matter.
        assert_eq!(
            parse_paper(&text.to_uppercase().replace("KEY CHECK", "key check")).unwrap(),
            key()
        );
    }

    #[test]
    fn a_mistyped_line_is_named() {
        let text = paper_text(&key());
        let line3 = text.lines().nth(3).unwrap().to_string();
        // Change one hex digit of paper line 03 (file line 4).
        let bad = line3.replacen(&line3[4..5], if &line3[4..5] == "0" { "1" } else { "0" }, 1);
        let e = parse_paper(&text.replace(&line3, &bad)).unwrap_err();
        assert!(e.contains("line 4 (paper line 03)"), "{e}");
        // Swapped lines fail too (the checksum covers the line number).
        let l1 = text.lines().nth(1).unwrap();
        let l2 = text.lines().nth(2).unwrap();
        let swapped = text
            .replace(l1, "X")
            .replace(l2, l1)
            .replace("X\n", &format!("{l2}\n"));
        let body1 = &l1[4..];
        let swapped2 = swapped.replace(&format!("01: {body1}"), &format!("02: {body1}"));
        assert!(parse_paper(&swapped2).is_err());
        // A missing line.
        let e = parse_paper(&text.replace(&format!("{l2}\n"), "")).unwrap_err();
        assert!(e.contains("missing"), "{e}");
    }
}
