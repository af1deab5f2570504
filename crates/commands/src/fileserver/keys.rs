//! The cryptography of fileserver clusters: a cluster's Ed25519 key pair (the private seed
//! sealed under the enckey, bound to the cluster id), the member configuration TOML that
//! `fsclustershowconfig` prints, and the signatures of announcements (by a member, with the
//! cluster key) and of their acceptance (by the server). The member side
//! (`keyward fileserver announce`) uses the same functions, so both ends sign the same bytes.

use data_encoding::BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use keyward_core::aead;
use keyward_core::enckey::KeySlot;
use keyward_proto::{
    ANNOUNCEMENT_SIGNED_PREFIX, FsAliveRequest, FsAnnouncement, FsMemberConfig,
    accepted_signed_text,
};
use keyward_store::fileserver::Cluster;
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::output::CommandError;

/// Associated data binding a sealed private key to its cluster.
fn private_key_ad(cluster_id: &str) -> Vec<u8> {
    format!("fileserver_cluster:{cluster_id}:private_key").into_bytes()
}

/// A fresh key pair for `cluster_id`: (public key base64, sealed private seed).
pub async fn new_cluster_keys(
    ctx: &Ctx,
    cluster_id: &str,
) -> Result<(String, String), CommandError> {
    let seed = Zeroizing::new(
        keyward_core::random::bytes::<32>().map_err(|e| CommandError::Internal(e.to_string()))?,
    );
    let key = SigningKey::from_bytes(&seed);
    let enckey = ctx.shared.enckey().await?;
    let sealed = aead::seal(
        enckey,
        KeySlot::ConfigSecrets,
        seed.as_slice(),
        &private_key_ad(cluster_id),
    )
    .map_err(|e| CommandError::Internal(format!("cannot encrypt the cluster key: {e}")))?;
    Ok((BASE64.encode(key.verifying_key().as_bytes()), sealed))
}

/// The cluster's private key seed, unsealed.
async fn cluster_seed(ctx: &Ctx, cluster: &Cluster) -> Result<Zeroizing<Vec<u8>>, CommandError> {
    let enckey = ctx.shared.enckey().await?;
    aead::open(
        enckey,
        &cluster.private_key_sealed,
        &private_key_ad(&cluster.id),
    )
    .map(Zeroizing::new)
    .map_err(|e| {
        CommandError::Internal(format!(
            "cannot decrypt the key of cluster {}: {e}",
            cluster.id
        ))
    })
}

/// The member configuration of a cluster: everything but the member's own id and URL.
pub async fn member_config(
    ctx: &Ctx,
    cluster: &Cluster,
    server_url: &str,
    shards: Vec<keyward_proto::FsConfigShard>,
) -> Result<FsMemberConfig, CommandError> {
    let seed = cluster_seed(ctx, cluster).await?;
    let server_key = &ctx.shared.server_keys().await?.audit_signing_key;
    Ok(FsMemberConfig {
        server_url: server_url.to_string(),
        server_public_key: BASE64.encode(server_key.verifying_key().as_bytes()),
        cluster_id: cluster.id.clone(),
        cluster_private_key: BASE64.encode(&seed),
        file_size_limit: cluster.file_size_limit,
        member_id: None,
        member_url: None,
        shards,
    })
}

/// The configuration as the TOML snippet `fsclustershowconfig` prints.
pub fn member_config_toml(config: &FsMemberConfig, title: &str) -> Result<String, CommandError> {
    let body = toml::to_string(config)
        .map_err(|e| CommandError::Internal(format!("cannot write the configuration: {e}")))?;
    let title: String = title.chars().filter(|c| !c.is_control()).collect();
    Ok(format!(
        "# keyward fileserver member configuration for cluster \"{title}\".\n\
         # It holds the cluster's private key: keep it secret. Add the member's own id and URL:\n\
         # member_id = \"fs1\"\n\
         # member_url = \"https://fs1.example.com\"\n\
         # then run `keyward fileserver announce --config FILE`.\n{body}"
    ))
}

/// Reads a cluster private key from its base64 seed.
pub fn signing_key(seed_b64: &str) -> Result<SigningKey, String> {
    let raw = Zeroizing::new(
        BASE64
            .decode(seed_b64.trim().as_bytes())
            .map_err(|_| "cluster_private_key is not base64".to_string())?,
    );
    let seed: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| "cluster_private_key is not a 32-byte Ed25519 seed".to_string())?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Reads an Ed25519 public key from base64.
pub fn verifying_key(b64: &str) -> Result<VerifyingKey, String> {
    let raw = BASE64
        .decode(b64.trim().as_bytes())
        .map_err(|_| "the public key is not base64".to_string())?;
    let bytes: [u8; 32] = raw
        .as_slice()
        .try_into()
        .map_err(|_| "the public key is not 32 bytes".to_string())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "the public key is not an Ed25519 key".to_string())
}

fn announcement_message(text: &str) -> Vec<u8> {
    [ANNOUNCEMENT_SIGNED_PREFIX.as_bytes(), text.as_bytes()].concat()
}

/// A member's signed announcement, ready to post.
pub fn sign_announcement(key: &SigningKey, announcement: &FsAnnouncement) -> FsAliveRequest {
    let text = serde_json::to_string(announcement).unwrap_or_default();
    let signature = key.sign(&announcement_message(&text));
    FsAliveRequest {
        cluster_id: announcement.cluster_id.clone(),
        announcement: text,
        signature: BASE64.encode(&signature.to_bytes()),
    }
}

/// Whether `signature` (base64) is the cluster key's signature of the announcement text.
pub fn announcement_signed_by(public_key_b64: &str, text: &str, signature: &str) -> bool {
    let (Ok(key), Ok(raw)) = (
        verifying_key(public_key_b64),
        BASE64.decode(signature.trim().as_bytes()),
    ) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&raw) else {
        return false;
    };
    key.verify_strict(&announcement_message(text), &sig).is_ok()
}

/// The server's signature of an accepted announcement (base64).
pub fn sign_accepted(key: &SigningKey, cluster_id: &str, member_id: &str, ts_ms: i64) -> String {
    let text = accepted_signed_text(cluster_id, member_id, ts_ms);
    BASE64.encode(&key.sign(text.as_bytes()).to_bytes())
}

/// Whether the server's answer is signed by the key in the member configuration.
pub fn accepted_signed_by(
    server_public_key_b64: &str,
    cluster_id: &str,
    member_id: &str,
    ts_ms: i64,
    signature: &str,
) -> bool {
    let (Ok(key), Ok(raw)) = (
        verifying_key(server_public_key_b64),
        BASE64.decode(signature.trim().as_bytes()),
    ) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(&raw) else {
        return false;
    };
    let text = accepted_signed_text(cluster_id, member_id, ts_ms);
    key.verify(text.as_bytes(), &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyward_proto::FsAnnouncedShard;

    fn announcement() -> FsAnnouncement {
        FsAnnouncement {
            cluster_id: "c1".into(),
            member_id: "m1".into(),
            url: "https://fs1.example.com".into(),
            timestamp_ms: 1_700_000_000_000,
            shards: vec![FsAnnouncedShard {
                shard_id: "s1".into(),
                read: true,
                write: false,
            }],
        }
    }

    #[test]
    fn a_signed_announcement_verifies_and_a_changed_one_does_not() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let public = BASE64.encode(key.verifying_key().as_bytes());
        let req = sign_announcement(&key, &announcement());
        assert!(announcement_signed_by(
            &public,
            &req.announcement,
            &req.signature
        ));
        let forged = req
            .announcement
            .replace("\"write\":false", "\"write\":true");
        assert!(!announcement_signed_by(&public, &forged, &req.signature));
        let other = SigningKey::from_bytes(&[8; 32]);
        let by_other = sign_announcement(&other, &announcement());
        assert!(!announcement_signed_by(
            &public,
            &by_other.announcement,
            &by_other.signature
        ));
        assert!(!announcement_signed_by(&public, &req.announcement, "%%"));
    }

    #[test]
    fn the_acceptance_signature_binds_member_and_time() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let public = BASE64.encode(key.verifying_key().as_bytes());
        let sig = sign_accepted(&key, "c1", "m1", 5);
        assert!(accepted_signed_by(&public, "c1", "m1", 5, &sig));
        assert!(!accepted_signed_by(&public, "c1", "m1", 6, &sig));
        assert!(!accepted_signed_by(&public, "c1", "m2", 5, &sig));
    }

    #[test]
    fn keys_are_read_from_base64_seeds() {
        let seed = BASE64.encode(&[1; 32]);
        assert!(signing_key(&seed).is_ok());
        assert!(signing_key("abc").is_err());
        assert!(signing_key(&BASE64.encode(&[1; 31])).is_err());
    }
}
