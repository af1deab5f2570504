//! `dumpdata` written as it is read: the store streams users and tokens one row at a time
//! ([`keyward_store::dump::DumpRows`]) and [`JsonDoc`] writes each as an element of its array,
//! so memory stays flat however large the installation. The bytes are exactly what serde_json
//! writes for the whole [`keyward_proto::dump::Dump`] (one line, or pretty with N spaces); a
//! test holds the two side by side.

use std::io::Write;

use keyward_proto::dump::{DumpApiKey, DumpToken};
use keyward_store::dump::{ApiKeyRow, DumpRows};
use keyward_store::tokens::Token;
use keyward_store::users::User;
use serde::Serialize;
use serde_json::Value;

use super::token_fields::with_shared_token_fields;
use crate::user_object::object_json;

/// A JSON object written field by field, arrays element by element.
pub(crate) struct JsonDoc<W: Write> {
    out: W,
    indent: usize,
    fields: usize,
    items: usize,
}

impl<W: Write> JsonDoc<W> {
    /// Opens the top-level object.
    pub(crate) fn start(mut out: W, indent: u8) -> std::io::Result<Self> {
        out.write_all(b"{")?;
        Ok(JsonDoc {
            out,
            indent: usize::from(indent),
            fields: 0,
            items: 0,
        })
    }

    /// A newline and the indentation of `level` (pretty output only).
    fn newline(&mut self, level: usize) -> std::io::Result<()> {
        if self.indent > 0 {
            self.out.write_all(b"\n")?;
            for _ in 0..level * self.indent {
                self.out.write_all(b" ")?;
            }
        }
        Ok(())
    }

    /// `value` as serde_json writes it when nested `level` deep.
    fn value(&mut self, value: &impl Serialize, level: usize) -> std::io::Result<()> {
        let mut text = Vec::new();
        if self.indent == 0 {
            serde_json::to_writer(&mut text, value)?;
            return self.out.write_all(&text);
        }
        let spaces = vec![b' '; self.indent];
        let formatter = serde_json::ser::PrettyFormatter::with_indent(&spaces);
        value.serialize(&mut serde_json::Serializer::with_formatter(
            &mut text, formatter,
        ))?;
        // A JSON text holds no raw newline inside a string, so every newline is layout.
        let pad = vec![b' '; level * self.indent];
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
                self.out.write_all(&pad)?;
            }
            self.out.write_all(line)?;
        }
        Ok(())
    }

    fn key(&mut self, name: &str) -> std::io::Result<()> {
        if self.fields > 0 {
            self.out.write_all(b",")?;
        }
        self.fields += 1;
        self.newline(1)?;
        serde_json::to_writer(&mut self.out, name)?;
        self.out
            .write_all(if self.indent > 0 { b": " } else { b":" })
    }

    /// A whole field.
    pub(crate) fn field(&mut self, name: &str, value: &impl Serialize) -> std::io::Result<()> {
        self.key(name)?;
        self.value(value, 1)
    }

    /// Opens an array field; [`JsonDoc::item`] adds to it, [`JsonDoc::close_array`] ends it.
    pub(crate) fn open_array(&mut self, name: &str) -> std::io::Result<()> {
        self.key(name)?;
        self.items = 0;
        self.out.write_all(b"[")
    }

    pub(crate) fn item(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        if self.items > 0 {
            self.out.write_all(b",")?;
        }
        self.items += 1;
        self.newline(2)?;
        self.value(value, 2)
    }

    pub(crate) fn close_array(&mut self) -> std::io::Result<()> {
        if self.items > 0 {
            self.newline(1)?;
        }
        self.out.write_all(b"]")
    }

    /// Closes the object, ends the text with a newline and hands back the writer.
    pub(crate) fn finish(mut self) -> std::io::Result<W> {
        if self.fields > 0 {
            self.newline(0)?;
        }
        self.out.write_all(b"}\n")?;
        Ok(self.out)
    }
}

/// A user's object in a dump: the editable record plus the stored hash as `password`.
pub(crate) fn dump_user(u: &User) -> Value {
    let mut obj = object_json(u);
    if let Some(map) = obj.as_object_mut() {
        map.insert("password".into(), u.password_hash.clone().into());
    }
    obj
}

/// A token as a dump holds it.
pub(crate) fn dump_token(t: &Token) -> DumpToken {
    with_shared_token_fields!(
        t,
        DumpToken {
            serial: t.serial.to_string(),
            user: t.owner_name.clone().unwrap_or_default(),
        }
    )
}

/// An API key as a dump holds it (its hash, never the key).
pub(crate) fn dump_api_key(k: &ApiKeyRow) -> DumpApiKey {
    DumpApiKey {
        id: k.key.id.to_string(),
        key_hash: k.key_hash.clone(),
        role: k.key.role.clone(),
        username: k.key.username.to_string(),
        owner: k.owner_name.clone().unwrap_or_default(),
        realm: k.key.realm.clone(),
        description: k.key.description.clone(),
        created_at: k.key.created_at,
        expires_at: k.key.expires_at,
        revoked_at: k.key.revoked_at,
    }
}

/// Writes the streamed users into `users` (keeping accounts with a role, which are few, for
/// `admins` at the end) and the tokens into `tokens`.
pub(crate) struct DumpWriter<W: Write> {
    pub(crate) doc: JsonDoc<W>,
    pub(crate) admins: Vec<Value>,
    pub(crate) users: usize,
    pub(crate) tokens: usize,
    in_tokens: bool,
}

impl<W: Write> DumpWriter<W> {
    /// Starts the document (`format`, `version`) and opens `users`.
    pub(crate) fn start(mut doc: JsonDoc<W>, format: &str, version: i64) -> std::io::Result<Self> {
        doc.field("format", &format)?;
        doc.field("version", &version)?;
        doc.open_array("users")?;
        Ok(DumpWriter {
            doc,
            admins: Vec::new(),
            users: 0,
            tokens: 0,
            in_tokens: false,
        })
    }

    /// Closes the streamed arrays (opening an empty `tokens` if no token came).
    pub(crate) fn end_streamed(&mut self) -> std::io::Result<()> {
        if !self.in_tokens {
            self.doc.close_array()?;
            self.doc.open_array("tokens")?;
            self.in_tokens = true;
        }
        self.doc.close_array()
    }
}

impl<W: Write> DumpRows for DumpWriter<W> {
    type Error = std::io::Error;

    fn user(&mut self, user: User) -> Result<(), Self::Error> {
        let obj = dump_user(&user);
        if user.roles.is_empty() {
            self.users += 1;
            self.doc.item(&obj)
        } else {
            self.admins.push(obj);
            Ok(())
        }
    }

    fn token(&mut self, token: Token) -> Result<(), Self::Error> {
        if !self.in_tokens {
            self.doc.close_array()?;
            self.doc.open_array("tokens")?;
            self.in_tokens = true;
        }
        self.tokens += 1;
        self.doc.item(&dump_token(&token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_proto::dump::{DUMP_FORMAT, DUMP_VERSION, Dump};
    use serde_json::json;

    fn sample() -> Dump {
        Dump {
            format: DUMP_FORMAT.into(),
            version: DUMP_VERSION,
            users: vec![
                json!({"username": "a", "filters": {"x": [1, 2]}, "e": []}),
                json!({}),
            ],
            tokens: vec![DumpToken {
                serial: "S\n1".into(),
                realms: vec!["r".into()],
                ..DumpToken::default()
            }],
            api_keys: vec![DumpApiKey::default()],
            admins: vec![json!({"username": "root"})],
            ..Dump::default()
        }
    }

    /// The streamed text is byte for byte what serde_json writes for the whole document.
    #[test]
    fn streamed_text_equals_serde_json() {
        let empty = Dump {
            format: DUMP_FORMAT.into(),
            ..Dump::default()
        };
        for doc in [sample(), empty] {
            for indent in [0u8, 1, 2, 4] {
                let mut w = JsonDoc::start(Vec::new(), indent).unwrap();
                w.field("format", &doc.format).unwrap();
                w.field("version", &doc.version).unwrap();
                w.open_array("users").unwrap();
                for u in &doc.users {
                    w.item(u).unwrap();
                }
                w.close_array().unwrap();
                w.open_array("tokens").unwrap();
                for t in &doc.tokens {
                    w.item(t).unwrap();
                }
                w.close_array().unwrap();
                w.field("realms", &doc.realms).unwrap();
                w.field("resolvers", &doc.resolvers).unwrap();
                w.field("policies", &doc.policies).unwrap();
                w.field("api_keys", &doc.api_keys).unwrap();
                w.field("admins", &doc.admins).unwrap();
                let streamed = w.finish().unwrap();
                let mut whole = if indent == 0 {
                    serde_json::to_vec(&doc).unwrap()
                } else {
                    let spaces = vec![b' '; usize::from(indent)];
                    let f = serde_json::ser::PrettyFormatter::with_indent(&spaces);
                    let mut out = Vec::new();
                    doc.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))
                        .unwrap();
                    out
                };
                whole.push(b'\n');
                assert_eq!(
                    String::from_utf8(streamed).unwrap(),
                    String::from_utf8(whole).unwrap(),
                    "indent {indent}"
                );
            }
        }
    }
}
