//! Credentials of `keyward api`: HTTP Basic for an admin account or a bearer token (session
//! token or admin API key), from the flags, `KEYWARD_API_TOKEN`, or a prompt without echo on the
//! terminal. Secrets read here are only ever put in the Authorization header.

use std::io::{BufRead, Write};

/// How requests authenticate.
pub enum Credentials {
    None,
    Basic { user: String, password: String },
    Bearer(String),
}

impl Credentials {
    /// Resolves `-a`, `-u`, `-p` and `KEYWARD_API_TOKEN`; prompts on the terminal for what is
    /// missing. Without `-a`: a token in the environment means bearer, `-u` means basic.
    pub fn resolve(
        auth_type: Option<&str>,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Result<Credentials, String> {
        let env_token = std::env::var("KEYWARD_API_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty());
        let kind = match auth_type {
            Some(k) => k,
            None if user.is_some() => "basic",
            None if env_token.is_some() || password.is_some() => "bearer",
            None => return Ok(Credentials::None),
        };
        match kind {
            "basic" => {
                let user = user
                    .filter(|u| !u.is_empty())
                    .ok_or("-a basic needs -u/--auth-user (an admin account)")?;
                let password = match password {
                    Some(p) => p.to_string(),
                    None => prompt(&format!("Password for {user}: "))
                        .map_err(|e| format!("-p/--auth-password not given and {e}"))?,
                };
                Ok(Credentials::Basic {
                    user: user.to_string(),
                    password,
                })
            }
            _ => {
                let token = match (password, env_token) {
                    (Some(p), _) => p.to_string(),
                    (None, Some(t)) => t.trim().to_string(),
                    (None, None) => prompt("API token: ").map_err(|e| {
                        format!("no token in -p/--auth-password or KEYWARD_API_TOKEN, and {e}")
                    })?,
                };
                Ok(Credentials::Bearer(token))
            }
        }
    }

    /// The Authorization header value, if any.
    pub fn header(&self) -> Option<String> {
        match self {
            Credentials::None => None,
            Credentials::Basic { user, password } => Some(format!(
                "Basic {}",
                data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes())
            )),
            Credentials::Bearer(token) => Some(format!("Bearer {token}")),
        }
    }
}

/// Reads one line from the terminal with echo off. Fails (with a reason in words) when there is
/// no terminal, so scripts get an error instead of a hang.
pub fn prompt(label: &str) -> Result<String, String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|_| "there is no terminal to prompt on".to_string())?;
    let mut writer = tty
        .try_clone()
        .map_err(|e| format!("cannot use the terminal: {e}"))?;
    let _ = writer.write_all(label.as_bytes());
    let _ = writer.flush();
    let guard = EchoOff::new(&tty);
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    drop(guard);
    let _ = writer.write_all(b"\n");
    read.map_err(|e| format!("cannot read from the terminal: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// A new password: prompted twice on the terminal; the two must match.
pub fn prompt_new_password(label: &str) -> Result<String, String> {
    let first = prompt(&format!("{label}: "))?;
    let second = prompt(&format!("{label} (again): "))?;
    if first != second {
        return Err("the two passwords differ".to_string());
    }
    Ok(first)
}

/// One line of standard input, without its line ending (`--password-stdin`).
pub fn read_stdin_line() -> Result<String, String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// Turns terminal echo off for its lifetime.
struct EchoOff {
    fd: i32,
    saved: Option<libc::termios>,
}

impl EchoOff {
    fn new(tty: &std::fs::File) -> Self {
        use std::os::fd::AsRawFd;
        let fd = tty.as_raw_fd();
        // SAFETY: tcgetattr/tcsetattr only read and write the termios struct we own, on a file
        // descriptor that stays open for the guard's lifetime (the caller holds `tty`).
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut t) != 0 {
                None
            } else {
                let mut quiet = t;
                quiet.c_lflag &= !libc::ECHO;
                libc::tcsetattr(fd, libc::TCSANOW, &quiet);
                Some(t)
            }
        };
        EchoOff { fd, saved }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the settings read in `new` on the same, still open descriptor.
            unsafe {
                libc::tcsetattr(self.fd, libc::TCSANOW, &t);
            }
        }
    }
}
