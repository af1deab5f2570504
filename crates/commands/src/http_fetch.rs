//! What the commands that call other services over HTTP (`testduoconnection`, `testsaml`) share:
//! a client with connect and overall timeouts and no redirects, and reading an answer up to a
//! size limit (stopping as soon as it is exceeded). Failures are described in words, without
//! the URL's query or any credential.

use std::time::Duration;

/// A client whose every request is bounded by `connect` and `overall`.
pub(crate) fn client(connect: Duration, overall: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(overall)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// Why a request got no answer, in words.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "no answer within the timeout".into()
    } else if e.is_connect() {
        "cannot connect (DNS, network or TLS)".into()
    } else {
        "the request failed".into()
    }
}

/// The body, refused once it grows past `max` bytes.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("the answer is larger than {max} bytes");
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the answer failed: {}", describe(&e)))?
    {
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
