//! The shared-secret login proof that clients compute and the server checks.
//!
//! A client never sends the shared secret itself. It sends HMAC-SHA256 keyed with the secret
//! over the nonce of the server's `Hello` followed by its peer id as 8 bytes big-endian, so a
//! captured proof is useless on another connection (another nonce) or for another peer.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Length in bytes of a proof returned by [`shared_secret_proof`].
pub const SHARED_SECRET_PROOF_LEN: usize = 32;

/// The proof of knowing `secret` for the login of `peer_id` after a `Hello` with `nonce`:
/// HMAC-SHA256(key = `secret`, message = `nonce` ‖ `peer_id` as 8 bytes big-endian).
pub fn shared_secret_proof(secret: &[u8], nonce: &[u8], peer_id: u64) -> Vec<u8> {
    proof_mac(secret, nonce, peer_id)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// True if `proof` equals [`shared_secret_proof`]`(secret, nonce, peer_id)`. The comparison takes
/// the same time wherever the first differing byte is.
pub fn verify_shared_secret_proof(secret: &[u8], nonce: &[u8], peer_id: u64, proof: &[u8]) -> bool {
    proof_mac(secret, nonce, peer_id)
        .verify_slice(proof)
        .is_ok()
}

/// The MAC state after absorbing the message.
fn proof_mac(secret: &[u8], nonce: &[u8], peer_id: u64) -> Hmac<Sha256> {
    // HMAC takes keys of any length (long ones are hashed first), so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(nonce);
    mac.update(&peer_id.to_be_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nonce 0x00..=0x1f, peer id 0x0102030405060708, secret "s3cret"; the expected value was
    /// computed with `openssl dgst -sha256 -hmac s3cret` over the same 40 bytes.
    #[test]
    fn proof_matches_fixed_vector() {
        let nonce: Vec<u8> = (0u8..32).collect();
        let proof = shared_secret_proof(b"s3cret", &nonce, 0x0102_0304_0506_0708);
        assert_eq!(
            hex(&proof),
            "9d34333f44ca8424f26c4abc5ebdad109d1d3a5611e25435776949d69af869a1"
        );
        assert_eq!(proof.len(), SHARED_SECRET_PROOF_LEN);
    }

    #[test]
    fn verify_accepts_only_the_exact_proof() {
        let nonce = [7u8; 32];
        let proof = shared_secret_proof(b"secret", &nonce, 42);
        assert!(verify_shared_secret_proof(b"secret", &nonce, 42, &proof));
        assert!(!verify_shared_secret_proof(b"secreT", &nonce, 42, &proof));
        assert!(!verify_shared_secret_proof(
            b"secret", &[8u8; 32], 42, &proof
        ));
        assert!(!verify_shared_secret_proof(b"secret", &nonce, 43, &proof));
        assert!(!verify_shared_secret_proof(
            b"secret",
            &nonce,
            42,
            &proof[..31]
        ));
        assert!(!verify_shared_secret_proof(b"secret", &nonce, 42, &[]));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
