//! a. Event frames (target `event_frame`).

use ain_ledger::crypto::{Address, Hash, Signature};
use ain_ledger::events::{DecodeError, EventPayload, Frame, decode_frame};
use serde_json::Value;

/// `decode_frame`: deterministic; a JSON frame decodes the same whatever its formatting (it is
/// re-serialized compactly and decoded again); non-JSON is `NotJson`; decoded hashes, addresses
/// and signatures print back to what they were parsed from.
pub fn event_frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let first = decode_frame(text);
    assert_eq!(
        first,
        decode_frame(text),
        "decode_frame is not deterministic"
    );
    match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            let compact = value.to_string();
            assert_eq!(
                first,
                decode_frame(&compact),
                "the frame decodes differently once re-serialized: {compact}"
            );
        }
        Err(_) => assert!(
            matches!(first, Err(DecodeError::NotJson(_))),
            "text that is not JSON decoded as {first:?}"
        ),
    }
    if let Err(e) = &first {
        assert!(!e.to_string().is_empty());
    }
    let Ok(Frame::Event(event)) = first else {
        return;
    };
    match &event.payload {
        EventPayload::BlockFinalized(b) => hash_round_trips(&b.block_hash),
        EventPayload::ValueChanged(vc) => {
            if let Some(tx) = &vc.transaction {
                event_tx_round_trips(tx);
            }
            if let Some(addr) = vc.auth.as_ref().and_then(|a| a.addr.as_ref()) {
                address_round_trips(addr);
            }
        }
        EventPayload::TxStateChanged(t) => event_tx_round_trips(&t.transaction),
        _ => {}
    }
}

fn hash_round_trips(h: &Hash) {
    assert_eq!(h.to_string().parse::<Hash>().ok(), Some(*h), "hash {h}");
}

fn address_round_trips(a: &Address) {
    assert_eq!(
        a.to_checksum().parse::<Address>().ok(),
        Some(*a),
        "address {a}"
    );
}

fn event_tx_round_trips(tx: &ain_ledger::tx::SignedTx) {
    hash_round_trips(&tx.hash);
    address_round_trips(&tx.address);
    // The signature is kept as sent; when it parses, it prints back to what it was parsed from.
    if let Ok(parsed) = Signature::parse(&tx.signature) {
        let sig = parsed.to_string();
        assert_eq!(Signature::parse(&sig).ok(), Some(parsed), "signature {sig}");
    }
}
