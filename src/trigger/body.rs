//! Reading a bounded prefix of a response body.

use crate::model::MAX_RESULT_BODY_BYTES;

/// Reads at most [`MAX_RESULT_BODY_BYTES`] of `response`'s body, chunk by chunk, and stops
/// reading there, so an endless body costs no more memory than the cap.
///
/// A read error (including the request's timeout) ends the read; the bytes read so far are kept.
pub async fn read_capped(response: &mut reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_RESULT_BODY_BYTES {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(error) => {
                tracing::debug!(%error, "response body read failed; keeping the bytes read");
                break;
            }
        };
        let room = MAX_RESULT_BODY_BYTES - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    to_capped_text(&bytes)
}

/// Decodes `bytes` as UTF-8, replacing invalid sequences, and cuts the text at the last
/// character boundary within [`MAX_RESULT_BODY_BYTES`].
pub fn to_capped_text(bytes: &[u8]) -> String {
    // A multi-byte character split by the cap is dropped rather than shown as a replacement.
    let bytes = match std::str::from_utf8(bytes) {
        Err(error) if error.error_len().is_none() => &bytes[..error.valid_up_to()],
        _ => bytes,
    };
    let text = String::from_utf8_lossy(bytes);
    let mut end = text.len().min(MAX_RESULT_BODY_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_short_body() {
        assert_eq!(to_capped_text(b"ok"), "ok");
    }

    #[test]
    fn text_drops_split_character() {
        let mut bytes = vec![b'a'; MAX_RESULT_BODY_BYTES - 1];
        bytes.push(0xC3);
        let text = to_capped_text(&bytes);
        assert_eq!(text.len(), MAX_RESULT_BODY_BYTES - 1);
    }

    #[test]
    fn text_replacing_invalid_bytes_stays_capped() {
        let bytes = vec![0xFF; MAX_RESULT_BODY_BYTES];
        let text = to_capped_text(&bytes);
        assert!(text.len() <= MAX_RESULT_BODY_BYTES);
        assert!(text.starts_with('\u{FFFD}'));
    }
}
