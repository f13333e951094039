//! Encoding of the payloads sent between nodes: one format-version byte, then bincode.
//!
//! A node that receives a version it does not know rejects the call, so nodes of different
//! versions fail loudly instead of misreading each other.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Version of the peer payload format.
const PEER_FORMAT_VERSION: u8 = 1;

/// A payload that could not be encoded or decoded.
#[derive(thiserror::Error, Debug)]
pub enum CodecError {
    #[error("failed to encode a peer payload: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    #[error("failed to decode a peer payload: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("peer payload has format version {found}, this node reads version {expected}")]
    Version { found: u8, expected: u8 },
    #[error("peer payload is empty")]
    Empty,
}

/// Encodes `value` with the version byte in front.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut bytes = vec![PEER_FORMAT_VERSION];
    let body = bincode::serde::encode_to_vec(value, bincode::config::standard())?;
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

/// Decodes a payload written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != PEER_FORMAT_VERSION {
        return Err(CodecError::Version {
            found: version,
            expected: PEER_FORMAT_VERSION,
        });
    }
    let (value, _) = bincode::serde::decode_from_slice(body, bincode::config::standard())?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_value() {
        let bytes = encode(&(7u64, "job".to_string())).unwrap();
        let value: (u64, String) = decode(&bytes).unwrap();
        assert_eq!(value, (7, "job".to_string()));
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut bytes = encode(&1u64).unwrap();
        bytes[0] = 9;
        let error = decode::<u64>(&bytes).unwrap_err();
        assert!(matches!(error, CodecError::Version { found: 9, .. }));
    }

    #[test]
    fn empty_payload_is_rejected() {
        assert!(matches!(decode::<u64>(&[]), Err(CodecError::Empty)));
    }
}
