//! Which chain: the worker's data dir (journal and follower cursor) is used only against the
//! chain it was made for, checked by genesis hash before anything is sent.

use crate::journal::Journal;
use crate::ledger::crypto::Hash;
use crate::ledger::follower::{CursorStore, FileCursorStore};
use crate::ledger::rpc::RpcClient;

use super::supervise::with_retry;
use super::{DaemonConfig, DaemonError};

/// The genesis the worker trusts, once it is sure the data dir (journal and follower cursor)
/// was made for the chain the node serves; records it in a new journal. A reset chain, or another
/// network, is refused before anything is sent: its journaled responses and cursor would answer
/// requests that do not exist there.
pub(super) async fn same_chain(
    config: &DaemonConfig,
    rpc: &RpcClient,
    journal: &Journal,
    cursor: &FileCursorStore,
) -> Result<Hash, DaemonError> {
    let node = with_retry("genesis block", config.node_wait, || rpc.genesis_hash())
        .await?
        .ok_or_else(|| DaemonError::Node("the node serves no genesis block".into()))?;
    let recorded = journal
        .genesis()?
        .map(|g| {
            g.parse::<Hash>()
                .map_err(|e| DaemonError::Config(format!("journal genesis {g:?}: {e}")))
        })
        .transpose()?;
    // Data dirs from before the journal recorded its chain: the cursor says which it was.
    let ours = match recorded {
        Some(g) => Some(g),
        None => cursor
            .load()
            .map_err(|e| DaemonError::Config(e.to_string()))?
            .map(|c| c.genesis_hash),
    };
    if let Some(ours) = ours
        && ours != node
    {
        return Err(DaemonError::OtherChain {
            dir: config.data_dir.clone(),
            ours,
            node,
        });
    }
    if let Some(pinned) = config.genesis_hash
        && pinned != node
    {
        return Err(DaemonError::Config(format!(
            "the configured genesis_hash {pinned} is not the node's genesis {node}"
        )));
    }
    if ours.is_none() && config.genesis_hash.is_none() {
        tracing::warn!(genesis = %node, "trusting the node's genesis block on first use");
    }
    journal.claim_genesis(&node.to_string())?;
    Ok(node)
}
