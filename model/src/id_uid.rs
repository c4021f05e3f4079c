//! The `"ID:UID"` pair that names every entity, property, index and relation in a model.

use std::fmt;
use std::str::FromStr;

/// A local ID (dense, `u32`) paired with a model-wide unique ID (random, `u64`).
///
/// The text form is `"<id>:<uid>"` with both parts written as plain decimal digits. The ID is
/// unique within its scope (entities and indexes and relations across the model, properties within
/// their entity); the UID is unique across the whole model, retired UIDs included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IdUid {
    /// The local ID, always greater than 0.
    pub id: u32,
    /// The model-wide unique ID, always greater than 0.
    pub uid: u64,
}

/// Why a string is not a valid `"ID:UID"`; displays as `"<value>" is not ID:UID (<reason>)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("\"{value}\" is not ID:UID ({reason})")]
pub struct ParseIdUidError {
    /// The rejected text, as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl IdUid {
    /// Creates a pair; does not check that both parts are non-zero.
    #[must_use]
    pub const fn new(id: u32, uid: u64) -> Self {
        Self { id, uid }
    }

    /// Parses the value of a `last*Id` field, where `""` and `"0:0"` both mean "none yet".
    ///
    /// # Errors
    /// Anything else that is not a strict `"ID:UID"` is rejected, as in [`IdUid::from_str`].
    pub fn parse_optional(text: &str) -> Result<Option<Self>, ParseIdUidError> {
        if text.is_empty() || text == "0:0" {
            return Ok(None);
        }
        text.parse().map(Some)
    }
}

impl FromStr for IdUid {
    type Err = ParseIdUidError;

    /// Parses `"<id>:<uid>"` strictly: exactly one colon, ASCII digits only (no sign, space, hex or
    /// leading zero), `0 < id <= u32::MAX` and `0 < uid <= u64::MAX`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| ParseIdUidError {
            value: text.to_owned(),
            reason,
        };
        let (id, uid) = text.split_once(':').ok_or_else(|| fail("missing ':'"))?;
        if uid.contains(':') {
            return Err(fail("more than one ':'"));
        }
        let id = parse_digits(id, u64::from(u32::MAX)).map_err(|e| fail(e.reason(true)))?;
        let uid = parse_digits(uid, u64::MAX).map_err(|e| fail(e.reason(false)))?;
        let id = u32::try_from(id).map_err(|_| fail("ID exceeds 4294967295"))?;
        Ok(Self { id, uid })
    }
}

impl fmt::Display for IdUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.uid)
    }
}

/// What went wrong with one decimal part of an `"ID:UID"`.
enum DigitsError {
    Empty,
    NotDigits,
    LeadingZero,
    Zero,
    TooLarge,
}

impl DigitsError {
    /// A fixed reason text for the ID part (`is_id`) or the UID part.
    fn reason(&self, is_id: bool) -> &'static str {
        match (self, is_id) {
            (Self::Empty, true) => "empty ID",
            (Self::Empty, false) => "empty UID",
            (Self::NotDigits, true) => "ID must be decimal digits only",
            (Self::NotDigits, false) => "UID must be decimal digits only",
            (Self::LeadingZero, true) => "ID has a leading zero",
            (Self::LeadingZero, false) => "UID has a leading zero",
            (Self::Zero, true) => "ID must be greater than 0",
            (Self::Zero, false) => "UID must be greater than 0",
            (Self::TooLarge, true) => "ID exceeds 4294967295",
            (Self::TooLarge, false) => "UID exceeds 18446744073709551615",
        }
    }
}

/// Parses ASCII decimal digits into a `u64` no larger than `max`, without going through a signed
/// or floating-point type.
fn parse_digits(text: &str, max: u64) -> Result<u64, DigitsError> {
    if text.is_empty() {
        return Err(DigitsError::Empty);
    }
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DigitsError::NotDigits);
    }
    if text == "0" {
        return Err(DigitsError::Zero);
    }
    if text.starts_with('0') {
        return Err(DigitsError::LeadingZero);
    }
    let mut value: u64 = 0;
    for b in text.bytes() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(DigitsError::TooLarge)?;
    }
    if value > max {
        return Err(DigitsError::TooLarge);
    }
    Ok(value)
}
