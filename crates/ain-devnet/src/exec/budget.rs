//! State budgets, as ain-blockchain 1.6.0 enforces them (ain-node-semantics.md §1): the tree
//! bytes every app uses, the free tier shared by all unstaked apps, staking shares, and the
//! check that runs after a transaction's ops (`checkStateGasBudgets`, `db/index.js:1655-1701`).
//!
//! The check runs on the post-tx state, after the ops have fired their `VALUE_CHANGED` events
//! and function triggers (§1.4), so subscribers see writes of a tx that then fails with 10905.

use serde_json::{Value, json};

use super::super::state::{State, StateInfo, TreeKind};
use crate::codes;
use ain_ledger::json::js_f64;
use ain_ledger::tx::Operation;
use ain_ledger::tx::state::parse_path;

/// Where the node's 10905 message sends the user.
const STAKING_DOCS: &str =
    "For more information see https://docs.ainetwork.ai/ain-blockchain/staking";

/// The node's `/blockchain_params/resource` budget parameters (§1.2).
#[derive(Clone, Debug, PartialEq)]
pub struct StateBudgets {
    /// `state_tree_bytes_limit` (11103 beyond): base/mainnet 5,000,000,000; 1-node 20,000,000.
    pub state_tree_bytes_limit: f64,
    /// `service_state_budget_ratio`: 0.5 in every config.
    pub service_ratio: f64,
    /// `apps_state_budget_ratio`: 0.495 in every config.
    pub apps_ratio: f64,
    /// `free_state_budget_ratio`: 0.005 in every config.
    pub free_ratio: f64,
    /// `max_state_tree_size_per_byte`: 0.00625 after the node's bandages (reported by
    /// `ain_getStateUsage` only).
    pub max_tree_size_per_byte: f64,
}

impl Default for StateBudgets {
    /// The base (mainnet/testnet) values: a 25,000,000-byte free tier, enough for a few
    /// thousand calls of an unstaked app on `ain-sre dev`.
    fn default() -> StateBudgets {
        StateBudgets::with_limit(5_000_000_000.0)
    }
}

impl StateBudgets {
    /// The node's ratios with `state_tree_bytes_limit` = `limit` (1-node: 20,000,000, a
    /// 100,000-byte free tier).
    pub fn with_limit(limit: f64) -> StateBudgets {
        StateBudgets {
            state_tree_bytes_limit: limit,
            service_ratio: 0.5,
            apps_ratio: 0.495,
            free_ratio: 0.005,
            max_tree_size_per_byte: 0.00625,
        }
    }

    /// The free tier shared by unstaked apps: `limit × free_ratio`.
    pub fn free(&self) -> f64 {
        self.state_tree_bytes_limit * self.free_ratio
    }

    /// All apps together: `limit × apps_ratio`.
    pub fn apps(&self) -> f64 {
        self.state_tree_bytes_limit * self.apps_ratio
    }

    /// Everything outside `/apps`: `limit × service_ratio`.
    pub fn service(&self) -> f64 {
        self.state_tree_bytes_limit * self.service_ratio
    }
}

/// `getStateUsageAtPath`: the four trees' `getStateInfo` at `labels`, added up (§1.1).
pub fn usage_info(state: &State, labels: &[&str]) -> StateInfo {
    TreeKind::ALL
        .iter()
        .filter_map(|k| state.tree(*k).get(labels))
        .fold(StateInfo::default(), |acc, n| acc + n.state_info())
}

/// Tree bytes only of [`usage_info`]: O(depth), from the cached measure.
pub fn usage_bytes(state: &State, labels: &[&str]) -> u64 {
    TreeKind::ALL
        .iter()
        .filter_map(|k| state.tree(*k).get(labels))
        .map(|n| n.tree_bytes())
        .sum()
}

/// `/staking/<app>/balance_total` when it is a number > 0 (`db/index.js:1542-1561`), else 0.
pub fn app_stake(state: &State, app: &str) -> f64 {
    state
        .value(&["staking", app, "balance_total"])
        .as_f64()
        .filter(|s| *s > 0.0)
        .unwrap_or(0.0)
}

/// Total stake of non-consensus services (`db/index.js:927-954`): `balance_total_sum` minus
/// the consensus stake, or, before the sum exists, the sum over every `/staking/<name>`.
pub fn app_stakes_total(state: &State) -> f64 {
    let consensus = state
        .value(&["staking", "consensus", "balance_total"])
        .as_f64()
        .unwrap_or(0.0);
    let sum = match state.value(&["staking", "balance_total_sum"]).as_f64() {
        Some(s) => s,
        None => state
            .tree(TreeKind::Values)
            .get(&["staking"])
            .map(|n| {
                n.children()
                    .filter_map(|(_, c)| c.child("balance_total"))
                    .filter_map(|b| b.to_value(false).as_f64())
                    .sum()
            })
            .unwrap_or(0.0),
    };
    sum - consensus
}

/// The whole state's tree bytes (the four trees' roots).
pub fn root_bytes(state: &State) -> u64 {
    TreeKind::ALL
        .iter()
        .filter_map(|k| state.tree(*k).root())
        .map(|n| n.tree_bytes())
        .sum()
}

/// Service usage: the whole state less `/apps` (`getAllStateUsages`).
pub fn service_bytes(state: &State) -> u64 {
    root_bytes(state).saturating_sub(usage_bytes(state, &["apps"]))
}

/// The free tier's usage: every app listed under `/values/apps` that is not staked (§1.2).
pub fn free_tier_usage(state: &State) -> u64 {
    let Some(apps) = state.tree(TreeKind::Values).get(&["apps"]) else {
        return 0;
    };
    apps.children()
        .filter(|(app, _)| app_stake(state, app) <= 0.0)
        .map(|(app, _)| usage_bytes(state, &["apps", app]))
        .sum()
}

/// A staked app's share of the apps budget (`db/index.js:1687`).
fn app_budget(state: &State, budgets: &StateBudgets, app: &str) -> f64 {
    let total = app_stakes_total(state);
    if total <= 0.0 {
        return 0.0;
    }
    budgets.apps() * app_stake(state, app) / total
}

fn num(x: f64) -> String {
    js_f64(x)
}

/// The app names of an operation's refs, in op order (`getAppNamesFromOpList`).
pub(crate) fn op_apps(operation: &Operation) -> Vec<String> {
    let ops: Vec<&str> = match operation {
        Operation::Simple(op) => vec![op.path.as_str()],
        Operation::Set(list) => list.iter().map(|op| op.path.as_str()).collect(),
    };
    let mut apps: Vec<String> = Vec::new();
    for path in ops {
        if let ["apps", app, ..] = parse_path(path).as_slice()
            && !apps.iter().any(|a| a == app)
        {
            apps.push((*app).to_owned());
        }
    }
    apps
}

/// The checks after a tx's ops (§1.4 step 3): tree bytes (11103), then the service budget
/// (10901), the apps budget (10902), and for each app the ops name, the free tier (10905,
/// `free total ≥ budget`) or the staked app's share (10907). `Some((code, message))` on failure.
pub fn check(
    state: &State,
    budgets: &StateBudgets,
    operation: &Operation,
) -> Option<(i64, String)> {
    let root = root_bytes(state);
    if root as f64 > budgets.state_tree_bytes_limit {
        return Some((
            codes::TREE_OUT_OF_TREE_BYTES_LIMIT,
            format!(
                "Out of tree bytes limit ({root} > {})",
                num(budgets.state_tree_bytes_limit)
            ),
        ));
    }
    let apps = usage_bytes(state, &["apps"]);
    let service = root - apps;
    if service as f64 > budgets.service() {
        return Some((
            codes::EXCEEDED_STATE_BUDGET_SERVICE,
            format!(
                "Exceeded state budget limit for services ({service} > {})",
                num(budgets.service())
            ),
        ));
    }
    if apps as f64 > budgets.apps() {
        return Some((
            codes::EXCEEDED_STATE_BUDGET_APPS,
            format!(
                "Exceeded state budget limit for apps ({apps} > {})",
                num(budgets.apps())
            ),
        ));
    }
    let mut free_total = None;
    for app in op_apps(operation) {
        if app_stake(state, &app) <= 0.0 {
            let free = *free_total.get_or_insert_with(|| free_tier_usage(state));
            // `>=` at `db/index.js:1671`, while the message prints `>`.
            if free as f64 >= budgets.free() {
                return Some((
                    codes::EXCEEDED_STATE_BUDGET_FREE_TIER,
                    format!(
                        "Exceeded state budget limit for free tier ({free} > {}).\n{STAKING_DOCS}",
                        num(budgets.free())
                    ),
                ));
            }
        } else {
            let usage = usage_bytes(state, &["apps", &app]);
            let budget = app_budget(state, budgets, &app);
            if usage as f64 > budget {
                return Some((
                    codes::EXCEEDED_STATE_BUDGET_APP,
                    format!(
                        "Exceeded state budget limit for app {app} ({usage} > {}).\n{STAKING_DOCS}",
                        num(budget)
                    ),
                ));
            }
        }
    }
    None
}

/// `ain_getStateUsage {app_name}` (§1.6): usage from the given (pending) state; `available`
/// is the staked app's remaining share or, for an unstaked app, what is left of the free tier
/// that all unstaked apps share.
pub fn state_usage(state: &State, budgets: &StateBudgets, app: &str) -> Value {
    let u = usage_info(state, &["apps", app]);
    let stake = app_stake(state, app);
    let total = app_stakes_total(state);
    let available = if stake > 0.0 {
        (app_budget(state, budgets, app) - u.tree_bytes as f64).max(0.0)
    } else {
        (budgets.free() - free_tier_usage(state) as f64).max(0.0)
    };
    json!({
        "usage": {
            "tree_height": u.tree_height,
            "tree_size": u.tree_size,
            "tree_bytes": u.tree_bytes,
            "tree_max_siblings": u.tree_max_siblings,
        },
        "available": {
            "tree_height": super::ops::STATE_TREE_HEIGHT_LIMIT,
            "tree_bytes": super::ops::js_num_value(available),
            "tree_size": super::ops::js_num_value(available * budgets.max_tree_size_per_byte),
        },
        "staking": {
            "app": super::ops::js_num_value(stake),
            "total": super::ops::js_num_value(total),
            "unstakeable": super::ops::js_num_value(calc_unstakeable(
                budgets.apps(),
                budgets.free(),
                u.tree_bytes as f64,
                free_tier_usage(state) as f64,
                stake,
                total,
            )),
        },
    })
}

/// `calcUnstakeableAmount` (`node/index.js:594-607`): how much of `app_stake` could be withdrawn
/// while the app's usage still fits its share of `state_budget` (the apps budget). All of it
/// when the app would then fit the free tier, else all but 1; nothing once the app's usage
/// reaches the budget. A real 1-node chain answered 999.1815373899017 for a stake of 1,000 of
/// 1,100 and 80,370 bytes used.
pub fn calc_unstakeable(
    state_budget: f64,
    free_budget: f64,
    app_usage: f64,
    free_tier_usage: f64,
    app_stake: f64,
    total_stake: f64,
) -> f64 {
    // `!totalStake` / `!appStake`: 0 and NaN.
    if total_stake == 0.0 || total_stake.is_nan() {
        return app_stake;
    }
    if app_stake == 0.0 || app_stake.is_nan() || state_budget <= app_usage {
        return 0.0;
    }
    // usage <= (stake - unstakeable) / (total - unstakeable) * budget, solved for unstakeable.
    let unstakeable =
        (state_budget * app_stake - app_usage * total_stake) / (state_budget - app_usage);
    if unstakeable < 0.0 {
        return 0.0;
    }
    if unstakeable >= app_stake {
        if app_usage + free_tier_usage > free_budget {
            return (app_stake - 1.0).max(0.0);
        }
        return app_stake;
    }
    unstakeable
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    #[test]
    fn tree_bytes_match_the_nodes_unit_test() {
        // `test/unit/db.test.js:4144-4185`: `/apps/app_0/tree` = 1000 × {10 × 'a'} gives app
        // state gas 1,806,108 (ain-node-semantics.md §1.1).
        let mut tree = Map::new();
        for i in 0..1000 {
            let leaf: Map<String, Value> = (0..10).map(|j| (j.to_string(), json!("a"))).collect();
            tree.insert(i.to_string(), Value::Object(leaf));
        }
        let mut s = State::default();
        s.write(
            TreeKind::Values,
            &["apps", "app_0", "tree"],
            &Value::Object(tree),
        );
        assert_eq!(usage_bytes(&s, &["apps", "app_0"]), 1_806_108);
        // The worked example: a new job under an existing `jobs` costs 690 bytes.
        s.write(TreeKind::Values, &["apps", "a", "jobs", "job1"], &json!(1));
        let before = usage_bytes(&s, &["apps", "a"]);
        s.write(
            TreeKind::Values,
            &["apps", "a", "jobs", "job42", "request"],
            &json!({"prompt": "hi", "n": 3}),
        );
        assert_eq!(usage_bytes(&s, &["apps", "a"]) - before, 690);
        // Rules, functions and owners count too; the app label does not.
        s.write(
            TreeKind::Rules,
            &["apps", "a", ".rule", "write"],
            &json!(true),
        );
        assert_eq!(
            usage_bytes(&s, &["apps", "a"]) - before,
            690 + 160 + 10 + 160 + 10 + 164
        );
        let info = usage_info(&s, &["apps", "a"]);
        assert_eq!(info.tree_bytes, usage_bytes(&s, &["apps", "a"]));
    }

    #[test]
    fn free_tier_counts_listed_unstaked_apps_only() {
        let mut s = State::default();
        s.write(TreeKind::Values, &["apps", "x", "v"], &json!(1));
        s.write(TreeKind::Values, &["apps", "y", "v"], &json!(1));
        s.write(
            TreeKind::Rules,
            &["apps", "z", ".rule", "write"],
            &json!(true),
        );
        let one = usage_bytes(&s, &["apps", "x"]);
        assert_eq!(
            free_tier_usage(&s),
            2 * one,
            "z has no value: not listed, not counted"
        );
        s.write(
            TreeKind::Values,
            &["staking", "y", "balance_total"],
            &json!(5),
        );
        assert_eq!(free_tier_usage(&s), one);
        assert_eq!(app_stakes_total(&s), 5.0);
    }

    #[test]
    fn unstakeable_follows_the_nodes_formula() {
        // Observed on a real ain-blockchain 1.6.0 1-node chain (apps budget 9,900,000, free
        // tier 100,000): app rn2 with 1,000 of 1,100 staked and 80,370 bytes used.
        assert_eq!(
            calc_unstakeable(9_900_000.0, 100_000.0, 80_370.0, 99_552.0, 1000.0, 1100.0),
            999.1815373899017
        );
        // An unstaked app: 0; no stakes at all: the app's (zero) stake.
        assert_eq!(
            calc_unstakeable(9_900_000.0, 100_000.0, 99_552.0, 99_552.0, 0.0, 1100.0),
            0.0
        );
        assert_eq!(
            calc_unstakeable(9_900_000.0, 100_000.0, 5.0, 5.0, 0.0, 0.0),
            0.0
        );
        // Alone with all the stake: everything, unless the app would not fit the free tier.
        assert_eq!(
            calc_unstakeable(9_900_000.0, 100_000.0, 1_000.0, 0.0, 50.0, 50.0),
            50.0
        );
        assert_eq!(
            calc_unstakeable(9_900_000.0, 100_000.0, 200_000.0, 0.0, 50.0, 50.0),
            49.0
        );
        // Usage at or over the budget: nothing.
        assert_eq!(
            calc_unstakeable(1_000.0, 100.0, 1_000.0, 0.0, 50.0, 60.0),
            0.0
        );
    }
}
