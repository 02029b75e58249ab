//! 全国地方公共団体コード (local government codes, JIS X 0401/0402): the key of
//! every tenant.
//!
//! A code is five digits (two for the prefecture, three for the
//! municipality) followed by a check digit. A typo in a tenant code would put
//! a municipality's files under another identity, so the check digit is
//! verified everywhere a code enters the system, and the error says which
//! digit was expected.

use std::fmt;

use serde::{Serialize, Serializer};

/// Prefecture part reserved by renkei for fictitious demo and test tenants.
/// No real prefecture uses it (real ones are 01–47), so a demo tenant can
/// never be mistaken for a real municipality.
pub const FICTITIOUS_PREFECTURE: u8 = 99;

/// A validated 全国地方公共団体コード.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantCode(String);

/// Why a string is not a valid local government code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("a municipality code has exactly 6 digits (全国地方公共団体コード); got {0:?}")]
    Shape(String),
    #[error(
        "prefecture part {prefecture:02} of {code:?} is not a prefecture (01–47) nor the fictitious {FICTITIOUS_PREFECTURE} used for demo tenants"
    )]
    Prefecture { code: String, prefecture: u8 },
    #[error(
        "check digit of {code:?} is wrong: for {body} the check digit is {expected} ({body}{expected}), not {found}"
    )]
    CheckDigit {
        code: String,
        body: String,
        expected: u8,
        found: u8,
    },
}

/// The JIS X 0401/0402 check digit of a five-digit body: weights 6..2,
/// remainder modulo 11 subtracted from 11, last digit of that.
pub fn check_digit(body: &[u8; 5]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip([6u32, 5, 4, 3, 2])
        .map(|(d, w)| u32::from(*d) * w)
        .sum();
    ((11 - sum % 11) % 10) as u8
}

impl TenantCode {
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let bytes = s.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(CodeError::Shape(s.to_string()));
        }
        let digits: Vec<u8> = bytes.iter().map(|b| b - b'0').collect();
        let prefecture = digits[0] * 10 + digits[1];
        if !((1..=47).contains(&prefecture) || prefecture == FICTITIOUS_PREFECTURE) {
            return Err(CodeError::Prefecture {
                code: s.to_string(),
                prefecture,
            });
        }
        let body = [digits[0], digits[1], digits[2], digits[3], digits[4]];
        let expected = check_digit(&body);
        if digits[5] != expected {
            return Err(CodeError::CheckDigit {
                code: s.to_string(),
                body: s[..5].to_string(),
                expected,
                found: digits[5],
            });
        }
        Ok(TenantCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the codes of fictitious demo/test tenants.
    pub fn is_fictitious(&self) -> bool {
        self.0.starts_with("99")
    }
}

impl fmt::Display for TenantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TenantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantCode({})", self.0)
    }
}

impl Serialize for TenantCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_codes_pass() {
        // 盛岡市, 札幌市, 千代田区, 横浜市, 埼玉県 (remainder 0), 栃木県 (remainder 1)
        for code in ["032018", "011002", "131016", "141003", "110001", "090000"] {
            assert!(TenantCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn typo_names_expected_digit() {
        let err = TenantCode::parse("032019").unwrap_err();
        assert_eq!(
            err,
            CodeError::CheckDigit {
                code: "032019".into(),
                body: "03201".into(),
                expected: 8,
                found: 9
            }
        );
        assert!(err.to_string().contains("check digit is 8"));
    }

    #[test]
    fn shape_and_prefecture_are_checked() {
        assert!(matches!(
            TenantCode::parse("03201"),
            Err(CodeError::Shape(_))
        ));
        assert!(matches!(
            TenantCode::parse("03201a"),
            Err(CodeError::Shape(_))
        ));
        assert!(matches!(
            TenantCode::parse("480001"),
            Err(CodeError::Prefecture { .. })
        ));
        let demo = TenantCode::parse("990001").unwrap();
        assert!(demo.is_fictitious());
    }
}
