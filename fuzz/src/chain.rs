//! c. Transactions and blocks (targets `tx_verify`, `block_verify`).

use ain_ledger::block::Block;
use ain_ledger::follower::verify::{Anchor, verify_chain, verify_genesis};
use ain_ledger::tx::SignedTx;
use serde_json::Value;

use super::test_key;

/// A signed tx: parse → serialize → parse is the identity and keeps the hash; `verify` accepts
/// only its own signer. Re-signed with the test key, the tx verifies, and every mutation of it
/// (body, signature byte, claimed address, chain id) is refused.
pub fn tx_verify(data: &[u8]) {
    let Ok(tx) = serde_json::from_slice::<SignedTx>(data) else {
        return;
    };
    let text = serde_json::to_string(&tx).expect("a signed tx serializes");
    let back: SignedTx = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a serialized tx does not parse back ({e}): {text}"));
    assert_eq!(back, tx, "tx round trip: {text}");
    assert_eq!(back.tx_body.stable_json(), tx.tx_body.stable_json());
    assert_eq!(back.tx_body.hash(), tx.tx_body.hash());
    let _ = tx.tx_body.validate();
    if let Ok(signer) = tx.verify(0) {
        assert_eq!(signer, tx.address);
        refuses_mutations(&tx, data);
    }
    let key = test_key();
    let Ok(signed) = tx.tx_body.clone().sign(key, 0) else {
        return;
    };
    assert_eq!(
        signed.verify(0),
        Ok(key.address()),
        "a fresh signature is refused"
    );
    refuses_mutations(&signed, data);
}

/// `tx` verifies on chain 0; no mutation of it may.
fn refuses_mutations(tx: &SignedTx, data: &[u8]) {
    let pick = data
        .iter()
        .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(*b as usize));
    let mut bodies = Vec::new();
    let mut b = tx.tx_body.clone();
    b.nonce = if b.nonce == -1 { -2 } else { -1 };
    bodies.push(b);
    let mut b = tx.tx_body.clone();
    b.billing = Some(format!("{}x", b.billing.unwrap_or_default()));
    bodies.push(b);
    for body in bodies {
        let mut m = tx.clone();
        m.tx_body = body;
        assert!(m.verify(0).is_err(), "a mutated body verifies: {m:?}");
    }
    // One hex digit of the signature changed.
    let mut sig: Vec<u8> = tx.signature.as_bytes().to_vec();
    let start = if tx.signature.starts_with("0x") { 2 } else { 0 };
    if sig.len() > start {
        let i = start + pick % (sig.len() - start);
        let digit = (sig[i] as char).to_digit(16).unwrap_or(0);
        sig[i] = char::from_digit(digit ^ 1, 16).map_or(b'0', |c| c as u8);
        let mut m = tx.clone();
        m.signature = String::from_utf8(sig).expect("hex stays ASCII");
        assert!(
            m.verify(0).is_err(),
            "a mutated signature verifies: {}",
            m.signature
        );
    }
    let mut m = tx.clone();
    m.address.0[pick % 20] ^= 1;
    assert!(m.verify(0).is_err(), "a tx verifies for another address");
    assert!(
        tx.verify(1).is_err(),
        "a chain-0 signature verifies on chain 1"
    );
}

pub(super) fn block_round_trips(b: &Block) {
    let text = serde_json::to_string(b).expect("a block serializes");
    let back: Block = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("a serialized block does not parse back ({e})"));
    assert_eq!(&back, b, "block round trip");
}

/// A block (an object) or a chain segment from genesis (an array of blocks): every block
/// round-trips through JSON; verification is deterministic; and when it passes, the last
/// block's anchor round-trips and each tampering with that block is refused: a header field
/// changed without resealing, a tx or vote body changed and resealed, the parent link changed
/// and resealed.
pub fn block_verify(data: &[u8]) {
    let blocks: Vec<Block> = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Array(items)) => {
            match items
                .into_iter()
                .take(8)
                .map(serde_json::from_value)
                .collect::<Result<Vec<Block>, _>>()
            {
                Ok(b) => b,
                Err(_) => return,
            }
        }
        Ok(v @ Value::Object(_)) => match serde_json::from_value(v) {
            Ok(b) => vec![b],
            Err(_) => return,
        },
        _ => return,
    };
    for b in &blocks {
        block_round_trips(b);
    }
    let verdict = verify_chain(&blocks, None, 0);
    assert_eq!(
        verdict.as_ref().map_err(|e| e.to_string()),
        verify_chain(&blocks, None, 0)
            .as_ref()
            .map_err(|e| e.to_string()),
        "verification is not deterministic"
    );
    let Ok((Some(anchor), _)) = verdict else {
        return;
    };
    let text = serde_json::to_string(&anchor).expect("an anchor serializes");
    let back: Anchor = serde_json::from_str(&text).expect("an anchor parses back");
    assert_eq!(back, anchor);

    let (prefix, last) = blocks.split_at(blocks.len() - 1);
    let last = &last[0];
    let refused = |tampered: &Block, what: &str| {
        let mut chain = prefix.to_vec();
        chain.push(tampered.clone());
        let ok = if chain.len() == 1 {
            verify_genesis(tampered, Some(&last.hash), 0).is_ok()
        } else {
            verify_chain(&chain, None, 0).is_ok()
        };
        assert!(!ok, "a block with {what} verifies");
    };
    let mut t = last.clone();
    t.timestamp = t.timestamp.wrapping_add(1);
    refused(&t, "a changed timestamp (not resealed)");
    if let Some(tx) = last.transactions.first() {
        let mut t = last.clone();
        t.transactions[0].tx_body.nonce = if tx.tx_body.nonce == -1 { -2 } else { -1 };
        t.seal();
        refused(&t, "a changed tx body (resealed)");
    }
    if let Some(vote) = last.last_votes.first() {
        let mut t = last.clone();
        t.last_votes[0].tx_body.timestamp =
            serde_json::Number::from(vote.tx_body.timestamp_ms().unwrap_or(0).wrapping_add(1));
        t.seal();
        refused(&t, "a changed vote body (resealed)");
    }
    if last.number > 0 {
        let mut t = last.clone();
        t.last_hash = Some(t.hash);
        t.seal();
        refused(&t, "a changed parent link (resealed)");
    }
}
