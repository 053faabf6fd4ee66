//! SDES key exchange (RFC 4568): the `a=crypto` attribute of `RTP/SAVP` streams, and the
//! trunk's SRTP policy.
//!
//! `a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<len>] [params]`
//!
//! Only what the SRTP layer can carry is accepted: the suites `AES_CM_128_HMAC_SHA1_80` and
//! `AES_CM_128_HMAC_SHA1_32`, one inline key of exactly 30 bytes (16 key + 14 salt), an optional
//! lifetime, no MKI and no session parameters (RFC 4568 §6.3: a line whose parameters are not
//! understood is not used). Any other line is skipped, never an error by itself; an `RTP/SAVP`
//! stream without a usable line is refused.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;

/// Master key length of the AES_CM_128 suites, bytes.
pub const MASTER_KEY_LEN: usize = 16;
/// Master salt length of the AES_CM_128 suites, bytes.
pub const MASTER_SALT_LEN: usize = 14;
/// Key and salt together, as carried in `inline:`.
pub const KEY_MATERIAL_LEN: usize = MASTER_KEY_LEN + MASTER_SALT_LEN;
/// The longest `a=crypto` value looked at; longer ones are skipped unparsed.
pub const MAX_CRYPTO_VALUE: usize = 256;
/// The base64 length of [`KEY_MATERIAL_LEN`] bytes (30 bytes → 40 characters, no padding).
const INLINE_KEY_CHARS: usize = 40;
/// RFC 4568 §9.1: the tag is 1 to 9 digits.
const MAX_TAG_DIGITS: usize = 9;

/// A trunk's SRTP setting (`srtp = "off" | "optional" | "required"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SrtpMode {
    /// Plain RTP only: an `RTP/SAVP` offer is refused with 488.
    #[default]
    Off,
    /// `RTP/SAVP` offers get SRTP, `RTP/AVP` offers plain RTP.
    Optional,
    /// Only `RTP/SAVP` with a usable `a=crypto`: plain RTP is refused with 488.
    Required,
}

/// The SRTP crypto suites voxgate answers (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CryptoSuite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit tag on SRTP (80-bit on SRTCP).
    AesCm128HmacSha1_32,
}

impl CryptoSuite {
    /// The suite called `name`, if voxgate does it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(Self::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Self::AesCm128HmacSha1_32),
            _ => None,
        }
    }

    /// As written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Self::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }
}

impl fmt::Display for CryptoSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// SRTP master key and salt. Its `Debug` never shows the bytes (it ends up in logs).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; KEY_MATERIAL_LEN]);

impl MasterKey {
    /// Key material from bytes: the first 16 are the key, the last 14 the salt. Give it bytes
    /// from a cryptographic random source for our own keys.
    pub fn from_bytes(bytes: [u8; KEY_MATERIAL_LEN]) -> Self {
        Self(bytes)
    }

    /// Decodes an `inline:` key (base64 of exactly 30 bytes).
    pub fn from_base64(text: &str) -> Option<Self> {
        if text.len() != INLINE_KEY_CHARS {
            return None;
        }
        let mut out = [0u8; KEY_MATERIAL_LEN];
        // 40 base64 characters decode to exactly 30 bytes: no padding, nothing left over.
        match STANDARD.decode_slice(text, &mut out) {
            Ok(KEY_MATERIAL_LEN) => Some(Self(out)),
            _ => None,
        }
    }

    /// The master key (16 bytes).
    pub fn key(&self) -> &[u8] {
        &self.0[..MASTER_KEY_LEN]
    }

    /// The master salt (14 bytes).
    pub fn salt(&self) -> &[u8] {
        &self.0[MASTER_KEY_LEN..]
    }

    /// The `inline:` form.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// One usable `a=crypto` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoAttribute {
    /// The tag that pairs an answer's line with the offer's.
    pub tag: u32,
    /// The crypto suite.
    pub suite: CryptoSuite,
    /// The sender's master key and salt.
    pub key: MasterKey,
}

impl CryptoAttribute {
    /// Parses an `a=crypto` value; `None` when it is not one voxgate can use (see the module
    /// documentation). Bounded: values over [`MAX_CRYPTO_VALUE`] bytes are not looked at.
    pub fn parse(value: &str) -> Option<Self> {
        if value.len() > MAX_CRYPTO_VALUE {
            return None;
        }
        let mut fields = value.split_ascii_whitespace();
        let (tag, suite, key_params) = (fields.next()?, fields.next()?, fields.next()?);
        if fields.next().is_some() {
            // Session parameters (KDR, UNENCRYPTED_SRTP, ...): not carried.
            return None;
        }
        if tag.is_empty() || tag.len() > MAX_TAG_DIGITS || !tag.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let tag = tag.parse().ok()?;
        let suite = CryptoSuite::parse(suite)?;
        // One key only: `;` separates several (RFC 4568 §9.1), which SDES answers never need.
        let inline = key_params.strip_prefix("inline:")?;
        if inline.contains(';') {
            return None;
        }
        let mut parts = inline.split('|');
        let key = MasterKey::from_base64(parts.next()?)?;
        for part in parts {
            // A lifetime (`2^31` or decimal) is fine; an MKI (`1:4`) is not carried.
            let lifetime = part.strip_prefix("2^").unwrap_or(part);
            if part.contains(':') || lifetime.is_empty() || lifetime.parse::<u64>().is_err() {
                return None;
            }
        }
        Some(Self { tag, suite, key })
    }

    /// The value to print after `a=crypto:`.
    pub fn to_value(&self) -> String {
        format!(
            "{} {} inline:{}",
            self.tag,
            self.suite,
            self.key.to_base64()
        )
    }
}

/// What an SDES exchange settled: the suite, our key (we send with it) and theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    /// The tag of the accepted line.
    pub tag: u32,
    /// The crypto suite, both directions.
    pub suite: CryptoSuite,
    /// Our master key: protects what we send.
    pub local: MasterKey,
    /// The peer's master key: unprotects what we receive.
    pub remote: MasterKey,
}

/// How an answer treats SRTP: the trunk's [`SrtpMode`] with our key for SRTP answers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    /// Plain RTP only.
    #[default]
    Off,
    /// SRTP for `RTP/SAVP` offers (answered with this key), plain RTP for `RTP/AVP`.
    Optional(MasterKey),
    /// SRTP only, answered with this key.
    Required(MasterKey),
}

impl SrtpPolicy {
    /// The policy for `mode`, answering with `key` where SRTP is possible.
    pub fn new(mode: SrtpMode, key: MasterKey) -> Self {
        match mode {
            SrtpMode::Off => Self::Off,
            SrtpMode::Optional => Self::Optional(key),
            SrtpMode::Required => Self::Required(key),
        }
    }

    /// Our key, unless SRTP is off.
    pub fn local_key(&self) -> Option<&MasterKey> {
        match self {
            Self::Off => None,
            Self::Optional(key) | Self::Required(key) => Some(key),
        }
    }

    /// Whether plain `RTP/AVP` may be answered.
    pub fn allows_plain(&self) -> bool {
        !matches!(self, Self::Required(_))
    }

    /// The keys for a stream whose offer carries `crypto` values: the first usable line, in
    /// the offerer's order of preference; `None` when SRTP is off or no line is usable.
    pub fn select<'a>(&self, crypto: impl Iterator<Item = &'a str>) -> Option<SrtpKeys> {
        let local = self.local_key()?;
        crypto
            .filter_map(CryptoAttribute::parse)
            .next()
            .map(|c| SrtpKeys {
                tag: c.tag,
                suite: c.suite,
                local: local.clone(),
                remote: c.key,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR";

    #[test]
    fn parses_a_usable_line() {
        let c = CryptoAttribute::parse(&format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")).unwrap();
        assert_eq!((c.tag, c.suite), (1, CryptoSuite::AesCm128HmacSha1_80));
        assert_eq!(c.key.key().len(), 16);
        assert_eq!(c.key.salt().len(), 14);
        assert_eq!(c.key.to_base64(), KEY);
        assert_eq!(
            c.to_value(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}")
        );
        let c = CryptoAttribute::parse(&format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31"))
            .unwrap();
        assert_eq!((c.tag, c.suite), (2, CryptoSuite::AesCm128HmacSha1_32));
        assert!(
            CryptoAttribute::parse(&format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|1048576"))
                .is_some()
        );
    }

    #[test]
    fn skips_what_cannot_be_carried() {
        for bad in [
            String::new(),
            "1".into(),
            format!("1 AES_CM_128_HMAC_SHA1_80 {KEY}"),
            format!("x AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
            format!("1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
            format!("1 AES_256_CM_HMAC_SHA1_80 inline:{KEY}"),
            format!("1 F8_128_HMAC_SHA1_80 inline:{KEY}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY};inline:{KEY}"),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY} UNENCRYPTED_SRTP"),
            "1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=".into(),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}", &KEY[..39]),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{}!", &KEY[..39]),
            format!("1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}{}", "0".repeat(300)),
        ] {
            assert_eq!(CryptoAttribute::parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_key() {
        let key = MasterKey::from_base64(KEY).unwrap();
        assert_eq!(format!("{key:?}"), "MasterKey(..)");
    }

    #[test]
    fn policy_picks_the_first_usable_line() {
        let ours = MasterKey::from_bytes([7; KEY_MATERIAL_LEN]);
        let lines = [
            "1 AES_256_CM_HMAC_SHA1_80 inline:junk".to_owned(),
            format!("2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}"),
            format!("3 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"),
        ];
        let policy = SrtpPolicy::new(SrtpMode::Required, ours.clone());
        let keys = policy.select(lines.iter().map(String::as_str)).unwrap();
        assert_eq!(
            (keys.tag, keys.suite),
            (2, CryptoSuite::AesCm128HmacSha1_32)
        );
        assert_eq!(keys.local, ours);
        assert_eq!(keys.remote.to_base64(), KEY);
        assert!(!policy.allows_plain());
        assert!(SrtpPolicy::new(SrtpMode::Optional, ours.clone()).allows_plain());
        let off = SrtpPolicy::new(SrtpMode::Off, ours);
        assert_eq!(off.select(lines.iter().map(String::as_str)), None);
        assert_eq!(off.local_key(), None);
    }
}
