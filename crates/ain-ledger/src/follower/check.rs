//! The named checks of block verification and the error that reports a failed one.
//!
//! Every failure carries the block number and a [`FailedCheck`] whose [`FailedCheck::name`] is a
//! stable identifier (`transactions_hash`, `proposal_signer`, …) for logs, metrics and the CLI,
//! plus what was found, so an operator can see exactly why the follower stopped.

use crate::crypto::{Address, CryptoError, Hash};

/// Which transaction list of a block a failing tx is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxList {
    /// `transactions`.
    Transactions,
    /// `last_votes` (the previous block's proposal and votes).
    LastVotes,
}

impl std::fmt::Display for TxList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TxList::Transactions => "transactions",
            TxList::LastVotes => "last_votes",
        })
    }
}

/// The check a block failed, with what was found.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FailedCheck {
    /// `last_votes_hash` does not match `last_votes`.
    #[error("last_votes_hash is {claimed}, last_votes hash to {computed}")]
    LastVotesHash {
        /// Stored hash.
        claimed: Hash,
        /// Recomputed hash.
        computed: Hash,
    },
    /// `transactions_hash` does not match `transactions`.
    #[error("transactions_hash is {claimed}, transactions hash to {computed}")]
    TransactionsHash {
        /// Stored hash.
        claimed: Hash,
        /// Recomputed hash.
        computed: Hash,
    },
    /// `receipts_hash` does not match `receipts`.
    #[error("receipts_hash is {claimed}, receipts hash to {computed}")]
    ReceiptsHash {
        /// Stored hash.
        claimed: Hash,
        /// Recomputed hash.
        computed: Hash,
    },
    /// `evidence_hash` does not match `evidence`.
    #[error("evidence_hash is {claimed}, evidence hashes to {computed}")]
    EvidenceHash {
        /// Stored hash.
        claimed: Hash,
        /// Recomputed hash.
        computed: Hash,
    },
    /// `hash` does not match the header.
    #[error("hash is {claimed}, the header hashes to {computed}")]
    HeaderHash {
        /// Stored hash.
        claimed: Hash,
        /// Recomputed hash.
        computed: Hash,
    },
    /// The number does not follow the previous block's.
    #[error("number {got}, expected {expected}")]
    Number {
        /// Expected number.
        expected: u64,
        /// The block's number.
        got: u64,
    },
    /// `last_hash` is not the previous block's hash.
    #[error(
        "last_hash {} is not the previous block's hash {prev_hash}",
        last_hash.map_or_else(|| "\"\"".to_owned(), |h| h.to_string())
    )]
    ParentLink {
        /// The block's `last_hash`.
        last_hash: Option<Hash>,
        /// The previous block's hash.
        prev_hash: Hash,
    },
    /// The epoch does not increase.
    #[error("epoch {epoch} does not exceed the previous epoch {prev_epoch}")]
    Epoch {
        /// The block's epoch.
        epoch: u64,
        /// The previous block's epoch.
        prev_epoch: u64,
    },
    /// Not one receipt per transaction.
    #[error("{receipts} receipts for {transactions} transactions")]
    ReceiptsCount {
        /// Number of receipts.
        receipts: usize,
        /// Number of transactions.
        transactions: usize,
    },
    /// A tx's `hash` (or its signature's embedded hash) is not its body's hash.
    #[error("{list}[{index}]: claimed hash {claimed} is not the body's hash {computed}")]
    TxHash {
        /// Which list.
        list: TxList,
        /// Index in that list.
        index: usize,
        /// Claimed hash.
        claimed: Hash,
        /// Body hash.
        computed: Hash,
    },
    /// A tx's signature is unparseable or unrecoverable.
    #[error("{list}[{index}]: bad signature: {reason}")]
    TxSignature {
        /// Which list.
        list: TxList,
        /// Index in that list.
        index: usize,
        /// Why.
        reason: CryptoError,
    },
    /// A tx's signature recovers to another address than its `address`.
    #[error("{list}[{index}]: signed by {recovered}, claims {claimed}")]
    TxSigner {
        /// Which list.
        list: TxList,
        /// Index in that list.
        index: usize,
        /// The `address` field.
        claimed: Address,
        /// The recovered signer.
        recovered: Address,
    },
    /// Genesis or block 1 with non-empty `last_votes` (nothing precedes them to vote on).
    #[error("{count} last_votes where none can exist")]
    UnexpectedLastVotes {
        /// How many entries.
        count: usize,
    },
    /// No proposal for the previous block in `last_votes`.
    #[error("no proposal for block {for_number} in last_votes")]
    MissingProposal {
        /// The previous block's number.
        for_number: u64,
    },
    /// A second proposal for the previous block.
    #[error("last_votes[{index}]: a second proposal")]
    DuplicateProposal {
        /// Index in `last_votes`.
        index: usize,
    },
    /// The proposal is for another block hash than the previous block's.
    #[error("last_votes[{index}]: proposal for {got}, previous block is {expected}")]
    ProposalBlockHash {
        /// Index in `last_votes`.
        index: usize,
        /// The proposal's `block_hash`.
        got: Hash,
        /// The previous block's hash.
        expected: Hash,
    },
    /// The proposal is not signed by the previous block's proposer.
    #[error("last_votes[{index}]: proposal signed by {signer}, previous proposer is {expected}")]
    ProposalSigner {
        /// Index in `last_votes`.
        index: usize,
        /// The signer.
        signer: Address,
        /// The previous block's proposer.
        expected: Address,
    },
    /// A `last_votes` entry that is no valid proposal or vote for the previous block.
    #[error("last_votes[{index}]: {reason}")]
    VoteInvalid {
        /// Index in `last_votes`.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The previous block's votes do not reach 2/3 of its validators' stake.
    #[error("votes for the previous block hold stake {got} of {total}; 2/3 needed")]
    InsufficientVotes {
        /// Counted stake.
        got: u128,
        /// Total stake of the previous block's validators.
        total: u128,
    },
    /// The previous block changed the validator set without 2/3 of the set before it.
    #[error("validator set change endorsed by stake {got} of the previous set's {total}")]
    ValidatorSetNotEndorsed {
        /// Counted stake in the earlier set.
        got: u128,
        /// Total stake of the earlier set.
        total: u128,
    },
    /// A genesis block whose number is not 0.
    #[error("genesis has number {0}")]
    GenesisNumber(u64),
    /// A genesis block other than the trusted one.
    #[error("genesis hash {got}, trusted genesis is {expected}")]
    GenesisHash {
        /// Configured hash.
        expected: Hash,
        /// The block's hash.
        got: Hash,
    },
}

impl FailedCheck {
    /// A stable snake_case name for logs, metrics and the CLI.
    pub fn name(&self) -> &'static str {
        match self {
            FailedCheck::LastVotesHash { .. } => "last_votes_hash",
            FailedCheck::TransactionsHash { .. } => "transactions_hash",
            FailedCheck::ReceiptsHash { .. } => "receipts_hash",
            FailedCheck::EvidenceHash { .. } => "evidence_hash",
            FailedCheck::HeaderHash { .. } => "header_hash",
            FailedCheck::Number { .. } => "number",
            FailedCheck::ParentLink { .. } => "parent_link",
            FailedCheck::Epoch { .. } => "epoch",
            FailedCheck::ReceiptsCount { .. } => "receipts_count",
            FailedCheck::TxHash { .. } => "tx_hash",
            FailedCheck::TxSignature { .. } => "tx_signature",
            FailedCheck::TxSigner { .. } => "tx_signer",
            FailedCheck::UnexpectedLastVotes { .. } => "unexpected_last_votes",
            FailedCheck::MissingProposal { .. } => "missing_proposal",
            FailedCheck::DuplicateProposal { .. } => "duplicate_proposal",
            FailedCheck::ProposalBlockHash { .. } => "proposal_block_hash",
            FailedCheck::ProposalSigner { .. } => "proposal_signer",
            FailedCheck::VoteInvalid { .. } => "vote_invalid",
            FailedCheck::InsufficientVotes { .. } => "insufficient_votes",
            FailedCheck::ValidatorSetNotEndorsed { .. } => "validator_set_not_endorsed",
            FailedCheck::GenesisNumber(_) => "genesis_number",
            FailedCheck::GenesisHash { .. } => "genesis_hash",
        }
    }
}

/// A block that failed verification: which block, and which check.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("block {number} failed check {}: {check}", check.name())]
pub struct VerifyError {
    /// The number the block claims.
    pub number: u64,
    /// The failed check.
    pub check: FailedCheck,
}
