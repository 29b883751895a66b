//! Opaque global IDs (`base64url("Type:id")`), as Relay expects.
use async_graphql::ID;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::AppError;

pub fn encode(type_name: &str, id: i64) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}")))
}

/// Decodes a global ID, checking it names the expected type.
pub fn decode(id: &ID, expected: &str) -> Result<i64, AppError> {
    let (type_name, raw) = decode_any(id)?;
    if type_name != expected {
        return Err(AppError::validation(
            "id",
            format!("expected a {expected} ID"),
        ));
    }
    Ok(raw)
}

/// Decodes a global ID of any type.
pub fn decode_any(id: &ID) -> Result<(String, i64), AppError> {
    let malformed = || AppError::validation("id", "malformed ID");
    let bytes = URL_SAFE_NO_PAD
        .decode(id.as_str())
        .map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let (type_name, raw) = text.split_once(':').ok_or_else(malformed)?;
    let raw: i64 = raw.parse().map_err(|_| malformed())?;
    if raw <= 0 || type_name.is_empty() {
        return Err(malformed());
    }
    Ok((type_name.to_string(), raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_type_check() {
        let id = encode("Measure", 42);
        assert_eq!(decode(&id, "Measure").unwrap(), 42);
        assert_eq!(decode(&id, "Order").unwrap_err().code(), "VALIDATION");
        assert_eq!(
            decode(&ID("not base64!".into()), "Measure")
                .unwrap_err()
                .code(),
            "VALIDATION"
        );
        assert_eq!(
            decode(&ID(URL_SAFE_NO_PAD.encode("Measure:x")), "Measure")
                .unwrap_err()
                .code(),
            "VALIDATION"
        );
    }
}
