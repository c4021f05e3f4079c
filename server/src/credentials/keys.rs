//! JWT verification keys, read from a PEM key or certificate, a JWKS or a map of key ids to PEM.
//!
//! Every key carries the only algorithms it may verify, all of its own family (RSA, EC or
//! Ed25519). Symmetric keys are never built here, so a token with `alg: HS256` can't use the
//! public key's bytes as an HMAC secret (key confusion). A certificate only carries its key: its
//! validity dates and chain are not checked, as for the Firebase and Auth0 documents it mimics.
//!
//! Invariant: no I/O here; `key_cache` fetches documents and this module only parses them.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

/// Public keys that may have signed a token, e.g. everything one `publicKeyUrl` serves.
pub(crate) struct KeySet {
    keys: Vec<Key>,
    /// Entries of the document that were left out, with the reason, for the log.
    skipped: Vec<String>,
}

/// One public key and what it may verify.
pub(crate) struct Key {
    /// The `kid` it is published under. `None` (a lone PEM key) matches every token.
    pub kid: Option<String>,
    pub decoding: DecodingKey,
    /// The algorithms this key verifies: one family only, narrowed to the JWK's `alg` if given.
    pub algorithms: Vec<Algorithm>,
    /// What kind of key it is, for messages, e.g. `RSA` or `EC P-256`.
    pub kind: &'static str,
}

impl KeySet {
    /// Reads `auth.jwt.publicKey`: one PEM public key (`BEGIN PUBLIC KEY`, PKCS#1 `BEGIN RSA
    /// PUBLIC KEY`) or an X.509 certificate (`BEGIN CERTIFICATE`).
    pub fn from_pem(pem: &str) -> Result<KeySet, String> {
        Ok(KeySet {
            keys: vec![key_from_pem(pem, None)?],
            skipped: Vec::new(),
        })
    }

    /// Reads what a `publicKeyUrl` serves: a JWKS `{"keys": [...]}`, a JSON object mapping key
    /// ids to PEM certificates or keys (Firebase), or a PEM public key or certificate.
    pub fn from_document(body: &str) -> Result<KeySet, String> {
        let body = body.trim_start_matches('\u{feff}').trim();
        if body.starts_with("-----BEGIN") {
            return KeySet::from_pem(body);
        }
        if !body.starts_with('{') {
            return Err(format!(
                "expected a JWKS, a JSON map of key ids to certificates or a PEM key, found {}",
                preview(body)
            ));
        }
        let json: serde_json::Value =
            serde_json::from_str(body).map_err(|e| format!("invalid JSON: {e}"))?;
        match json.get("keys") {
            Some(serde_json::Value::Array(keys)) => from_jwks(keys),
            Some(_) => Err("\"keys\" is not an array".to_owned()),
            None => from_kid_map(&json),
        }
    }

    /// Keys that may have signed a token with header `kid`: those published under it plus those
    /// without a kid; every key when the token names none.
    pub fn candidates(&self, kid: Option<&str>) -> Vec<&Key> {
        self.keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.is_none() || k.kid.as_deref() == kid)
            .collect()
    }

    /// True if [`KeySet::candidates`] finds a key for `kid`.
    pub fn has_key_for(&self, kid: Option<&str>) -> bool {
        !self.candidates(kid).is_empty()
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Entries that were left out, each with its reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// The key kinds, e.g. `RSA` or `RSA, EC P-256`, for the start-up log.
    pub fn kinds(&self) -> String {
        let mut kinds: Vec<&str> = self.keys.iter().map(|k| k.kind).collect();
        kinds.dedup();
        kinds.join(", ")
    }
}

// Helpers below.

/// Algorithms of an RSA key: PKCS#1 v1.5 and PSS with every hash.
const RSA_ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Parses one PEM block into a key published under `kid`.
fn key_from_pem(pem: &str, kid: Option<String>) -> Result<Key, String> {
    let label = pem_label(pem)?;
    match label {
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "CERTIFICATE" => {}
        l if l.contains("PRIVATE") => {
            return Err(format!(
                "found a private key (BEGIN {l}); configure the public key or certificate instead"
            ));
        }
        l => {
            return Err(format!(
                "unsupported PEM block BEGIN {l}; expected PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE"
            ));
        }
    }
    let bytes = pem.as_bytes();
    // Each constructor checks the key's algorithm OID, so at most one of them succeeds.
    if let Ok(decoding) = DecodingKey::from_rsa_pem(bytes) {
        return Ok(rsa_key(kid, decoding));
    }
    if let Ok(decoding) = DecodingKey::from_ec_pem(bytes) {
        let point_len = decoding.try_get_as_bytes().map_or(0, <[u8]>::len);
        // The SEC1 point's length tells the curve: 1 + 2 * 32 bytes for P-256, 1 + 2 * 48 for
        // P-384 (or 1 + 32 and 1 + 48 when compressed).
        let (alg, kind) = match point_len {
            65 | 33 => (Algorithm::ES256, "EC P-256"),
            97 | 49 => (Algorithm::ES384, "EC P-384"),
            n => {
                return Err(format!(
                    "unsupported EC key ({n}-byte point); only P-256 and P-384 are supported"
                ));
            }
        };
        return Ok(Key {
            kid,
            decoding,
            algorithms: vec![alg],
            kind,
        });
    }
    if let Ok(decoding) = DecodingKey::from_ed_pem(bytes) {
        return Ok(ed_key(kid, decoding));
    }
    Err(format!(
        "BEGIN {label} holds no RSA, EC (P-256, P-384) or Ed25519 public key that can be read"
    ))
}

/// The label of the first PEM block, e.g. `PUBLIC KEY` for `-----BEGIN PUBLIC KEY-----`.
fn pem_label(pem: &str) -> Result<&str, String> {
    let begin = "-----BEGIN ";
    let start = pem
        .find(begin)
        .map(|i| i + begin.len())
        .ok_or_else(|| format!("not PEM (no \"{begin}\" line), found {}", preview(pem)))?;
    let rest = &pem[start..];
    let end = rest
        .find("-----")
        .ok_or_else(|| "malformed PEM header line".to_owned())?;
    Ok(&rest[..end])
}

fn rsa_key(kid: Option<String>, decoding: DecodingKey) -> Key {
    Key {
        kid,
        decoding,
        algorithms: RSA_ALGORITHMS.to_vec(),
        kind: "RSA",
    }
}

fn ed_key(kid: Option<String>, decoding: DecodingKey) -> Key {
    Key {
        kid,
        decoding,
        algorithms: vec![Algorithm::EdDSA],
        kind: "Ed25519",
    }
}

/// Reads the `keys` array of a JWKS, skipping (and noting) entries that can't verify signatures.
fn from_jwks(entries: &[serde_json::Value]) -> Result<KeySet, String> {
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let kid = entry.get("kid").and_then(serde_json::Value::as_str);
        let name = match kid {
            Some(kid) => format!("keys[{i}] (kid {kid:?})"),
            None => format!("keys[{i}]"),
        };
        let parsed = serde_json::from_value::<Jwk>(entry.clone())
            .map_err(|e| e.to_string())
            .and_then(|jwk| key_from_jwk(&jwk));
        match parsed {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => skipped.push(format!("{name}: an encryption key")),
            Err(reason) => skipped.push(format!("{name}: {reason}")),
        }
    }
    if keys.is_empty() {
        return Err(if skipped.is_empty() {
            "the JWKS has no keys".to_owned()
        } else {
            format!("the JWKS has no usable key ({})", skipped.join("; "))
        });
    }
    Ok(KeySet { keys, skipped })
}

/// One JWK as a key; `None` for an encryption key (`"use": "enc"`).
fn key_from_jwk(jwk: &Jwk) -> Result<Option<Key>, String> {
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return Ok(None);
    }
    let kid = jwk.common.key_id.clone();
    let from_jwk = || DecodingKey::from_jwk(jwk).map_err(|e| format!("invalid key: {e}"));
    let mut key = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => rsa_key(kid, from_jwk()?),
        AlgorithmParameters::EllipticCurve(params) => {
            let (alg, kind) = match params.curve {
                EllipticCurve::P256 => (Algorithm::ES256, "EC P-256"),
                EllipticCurve::P384 => (Algorithm::ES384, "EC P-384"),
                ref other => return Err(format!("unsupported curve {other:?}")),
            };
            Key {
                kid,
                decoding: from_jwk()?,
                algorithms: vec![alg],
                kind,
            }
        }
        AlgorithmParameters::OctetKeyPair(params) if params.curve == EllipticCurve::Ed25519 => {
            ed_key(kid, from_jwk()?)
        }
        AlgorithmParameters::OctetKeyPair(params) => {
            return Err(format!("unsupported curve {:?}", params.curve));
        }
        AlgorithmParameters::OctetKey(_) => {
            return Err("symmetric (kty \"oct\") keys are not accepted".to_owned());
        }
        // Without usable key parameters, the first certificate of the chain has the key.
        _ => match jwk.common.x509_chain.as_deref() {
            Some([first, ..]) => key_from_pem(&certificate_pem(first), kid)?,
            _ => return Err("no RSA (n, e), EC (x, y), OKP (x) or x5c parameters".to_owned()),
        },
    };
    if let Some(alg) = jwk.common.key_algorithm {
        let alg = Algorithm::try_from(alg).map_err(|_| format!("unsupported alg {alg}"))?;
        if !key.algorithms.contains(&alg) {
            return Err(format!("alg {alg:?} does not fit an {} key", key.kind));
        }
        key.algorithms = vec![alg];
    }
    Ok(Some(key))
}

/// Reads a JSON object mapping key ids to PEM certificates or public keys (Firebase style).
fn from_kid_map(json: &serde_json::Value) -> Result<KeySet, String> {
    let Some(map) = json.as_object() else {
        return Err("expected a JSON object".to_owned());
    };
    let mut keys = Vec::new();
    for (kid, value) in map {
        let pem = value.as_str().ok_or_else(|| {
            format!(
                "expected a JWKS {{\"keys\": [...]}} or an object mapping key ids to PEM \
                 certificates, but the value of {kid:?} is not a string"
            )
        })?;
        keys.push(key_from_pem(pem, Some(kid.clone())).map_err(|e| format!("{kid:?}: {e}"))?);
    }
    if keys.is_empty() {
        return Err("the key map is empty".to_owned());
    }
    Ok(KeySet {
        keys,
        skipped: Vec::new(),
    })
}

/// A PEM certificate from an `x5c` entry, which is already the base64 of the DER.
fn certificate_pem(base64_der: &str) -> String {
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    let clean: Vec<char> = base64_der.chars().filter(|c| !c.is_whitespace()).collect();
    for line in clean.chunks(64) {
        pem.extend(line);
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

/// The start of a document, for error messages.
fn preview(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}
