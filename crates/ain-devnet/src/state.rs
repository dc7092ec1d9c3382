//! The chain state: four copy-on-write label trees (values, `.rule`, `.function`, `.owner`
//! configs), kept as the node keeps them (`db/state-node.js`), with an undo journal.
//!
//! A tree node is either a leaf (a non-null JSON scalar) or a branch of labelled children; an
//! empty branch never exists (a write of `null` deletes the node and prunes every parent it
//! leaves empty, as `updateStateInfoForAllRootPaths` does). Nodes are shared through [`Arc`] and
//! copied on write, so cloning a whole [`State`] is four reference-count bumps: the chain keeps
//! the finalized, tip and pending states side by side and a dry run works on a throw-away clone.
//! A branch's children are a persistent ordered map ([`imbl::OrdMap`]), so the first write into a
//! shared branch copies O(log n) of it rather than all n children: apps keep wide branches
//! (one child per call request), and a `BTreeMap` copy of those per block dominated block
//! production.
//!
//! Every write is journaled with the subtree it replaced, so one transaction's writes can be
//! undone without copying anything ([`State::rollback`]): that is how a `SET` whose third op fails
//! leaves no trace of the first two.
//!
//! Deviation: the node stores an explicit `null` nested inside a written object as a null leaf;
//! here such members are dropped (an object left empty by that is a deletion). Reads cannot tell
//! the difference except that the node would echo `"k": null` back.

use std::sync::Arc;

use imbl::OrdMap;

use serde_json::{Map, Value};

use ain_ledger::block::hash_json;

/// One node of a state tree.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A bool, number or string.
    Leaf(Value),
    /// Labelled children; never empty.
    Branch(Branch),
}

/// A child of a branch with its insertion serial.
#[derive(Clone, Debug, PartialEq)]
struct Child {
    /// When the label was added to its parent (`db/radix-tree.js:220-228`): overwriting keeps
    /// it, delete and re-add makes the label the newest. Garbage collection deletes the lowest.
    serial: u64,
    node: Arc<Node>,
}

/// The children of a branch, with the node's tree-bytes measure kept up to date on every change
/// (ain-node-semantics.md §1.1), so an app's usage is read in O(1) per tree.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    children: OrdMap<String, Child>,
    next_serial: u64,
    /// `160 + Σ (2·len16(label) + TB(child))` (`db/state-node.js:463-490`).
    bytes: u64,
}

/// What every state node costs besides its value (`db/state-node.js:74-79`:
/// `4(isLeaf)+132(proofHash)+8(treeHeight)+8(treeSize)+8(treeBytes)`).
pub const NODE_BYTES: u64 = 160;

/// `object-sizeof` of a label: two bytes per UTF-16 code unit.
fn label_bytes(label: &str) -> u64 {
    2 * label.encode_utf16().count() as u64
}

/// `object-sizeof` 1.6.3 of a stored scalar: a string 2 per UTF-16 unit, a number 8, a bool 4.
fn scalar_bytes(v: &Value) -> u64 {
    match v {
        Value::String(s) => label_bytes(s),
        Value::Number(_) => 8,
        Value::Bool(_) => 4,
        _ => 0,
    }
}

impl Branch {
    fn new() -> Branch {
        Branch {
            children: OrdMap::new(),
            next_serial: 0,
            bytes: NODE_BYTES,
        }
    }

    fn remove(&mut self, label: &str) -> Option<Child> {
        let c = self.children.remove(label)?;
        self.bytes -= label_bytes(label) + c.node.tree_bytes();
        Some(c)
    }

    /// Inserts `node` under `label`, with `serial` (kept from an overwritten child or restored
    /// by a rollback) or the next serial (a new label is the newest).
    fn insert(&mut self, label: &str, node: Arc<Node>, serial: Option<u64>) {
        let serial = serial.unwrap_or_else(|| {
            let s = self.next_serial;
            self.next_serial += 1;
            s
        });
        self.bytes += label_bytes(label) + node.tree_bytes();
        self.next_serial = self.next_serial.max(serial + 1);
        self.children
            .insert(label.to_owned(), Child { serial, node });
    }

    fn is_empty(&self) -> bool {
        self.children.is_empty()
    }
}

/// Which of the four trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TreeKind {
    /// `/values`: the data.
    Values,
    /// `/rules`: `.rule` configs.
    Rules,
    /// `/functions`: `.function` configs.
    Functions,
    /// `/owners`: `.owner` configs.
    Owners,
}

impl TreeKind {
    fn index(self) -> usize {
        match self {
            TreeKind::Values => 0,
            TreeKind::Rules => 1,
            TreeKind::Functions => 2,
            TreeKind::Owners => 3,
        }
    }

    /// All four, in a fixed order (the snapshot order).
    pub const ALL: [TreeKind; 4] = [
        TreeKind::Values,
        TreeKind::Rules,
        TreeKind::Functions,
        TreeKind::Owners,
    ];

    /// The snapshot key of this tree.
    pub fn name(self) -> &'static str {
        match self {
            TreeKind::Values => "values",
            TreeKind::Rules => "rules",
            TreeKind::Functions => "functions",
            TreeKind::Owners => "owners",
        }
    }
}

/// The node's `getStateInfo` fields for one subtree (ain-node-semantics.md §1.1, §1.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateInfo {
    /// `#tree_height`: 0 for a leaf, 1 + the highest child otherwise.
    pub tree_height: u64,
    /// `#tree_size`: nodes in the subtree.
    pub tree_size: u64,
    /// `#tree_bytes`: see [`Node::tree_bytes`].
    pub tree_bytes: u64,
    /// `#tree_max_siblings`: the most children any node of the subtree has.
    pub tree_max_siblings: u64,
}

impl std::ops::Add for StateInfo {
    type Output = StateInfo;
    /// Field-wise sum, as `getStateUsageAtPath` adds the four roots up.
    fn add(self, o: StateInfo) -> StateInfo {
        StateInfo {
            tree_height: self.tree_height + o.tree_height,
            tree_size: self.tree_size + o.tree_size,
            tree_bytes: self.tree_bytes + o.tree_bytes,
            tree_max_siblings: self.tree_max_siblings + o.tree_max_siblings,
        }
    }
}

impl Node {
    /// The child under `label`, if any.
    pub fn child(&self, label: &str) -> Option<&Arc<Node>> {
        match self {
            Node::Branch(b) => b.children.get(label).map(|c| &c.node),
            Node::Leaf(_) => None,
        }
    }

    /// The first `$variable` child, as the node's `getVariableLabel` picks it.
    pub fn variable_child(&self) -> Option<(&str, &Arc<Node>)> {
        self.children()
            .find(|(k, _)| k.starts_with('$'))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// The children in label order, empty for a leaf.
    pub fn children(&self) -> impl Iterator<Item = (&String, &Arc<Node>)> {
        let map = match self {
            Node::Branch(b) => Some(&b.children),
            Node::Leaf(_) => None,
        };
        map.into_iter()
            .flat_map(|m| m.iter().map(|(k, c)| (k, &c.node)))
    }

    /// The labels of the children, oldest first (`getChildLabels`, sorted by radix serial).
    pub fn labels_by_age(&self) -> Vec<String> {
        let Node::Branch(b) = self else {
            return Vec::new();
        };
        let mut v: Vec<(u64, &String)> = b.children.iter().map(|(k, c)| (c.serial, k)).collect();
        v.sort_unstable();
        v.into_iter().map(|(_, k)| k.clone()).collect()
    }

    /// Tree bytes of the subtree (ain-node-semantics.md §1.1): a leaf costs
    /// `160 + sizeof(value)`, a branch `160 + Σ (2·len(label) + TB(child))`.
    pub fn tree_bytes(&self) -> u64 {
        match self {
            Node::Leaf(v) => NODE_BYTES + scalar_bytes(v),
            Node::Branch(b) => b.bytes,
        }
    }

    /// All four `getStateInfo` fields; walks the subtree (bytes come from the cache).
    pub fn state_info(&self) -> StateInfo {
        match self {
            Node::Leaf(_) => StateInfo {
                tree_height: 0,
                tree_size: 1,
                tree_bytes: self.tree_bytes(),
                tree_max_siblings: 0,
            },
            Node::Branch(b) => {
                let mut info = StateInfo {
                    tree_height: 0,
                    tree_size: 1,
                    tree_bytes: b.bytes,
                    tree_max_siblings: b.children.len() as u64,
                };
                for c in b.children.values() {
                    let ci = c.node.state_info();
                    info.tree_height = info.tree_height.max(ci.tree_height + 1);
                    info.tree_size += ci.tree_size;
                    info.tree_max_siblings = info.tree_max_siblings.max(ci.tree_max_siblings);
                }
                info
            }
        }
    }

    /// The subtree as JSON (`toStateSnapshot`). With `shallow`, branch children become
    /// `{"#state_ph": <hash>}`, as the node's `is_shallow` reads return them.
    pub fn to_value(&self, shallow: bool) -> Value {
        match self {
            Node::Leaf(v) => v.clone(),
            Node::Branch(b) => {
                let mut out = Map::new();
                for (k, c) in &b.children {
                    let child = &c.node;
                    let v = match (&**child, shallow) {
                        (Node::Branch(_), true) => {
                            let ph = hash_json(&child.to_value(false)).to_string();
                            serde_json::json!({ "#state_ph": ph })
                        }
                        _ => child.to_value(false),
                    };
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
        }
    }

    /// Builds a subtree from JSON; `None` for `null` or an object with nothing storable in it.
    /// Children get serials in JavaScript key order (integer-like keys ascending, then the
    /// rest), as `db/state-node.js:112-129` assigns them; the rest is in label order here (the
    /// parsed object no longer has the sender's key order).
    pub fn from_value(value: &Value) -> Option<Arc<Node>> {
        match value {
            Value::Null => None,
            Value::Object(obj) => {
                let mut keys: Vec<&String> = obj.keys().collect();
                keys.sort_by_key(|k| match js_array_index(k) {
                    Some(i) => (0, i),
                    None => (1, 0),
                });
                let mut b = Branch::new();
                for k in keys {
                    if let Some(n) = Node::from_value(&obj[k]) {
                        b.insert(k, n, None);
                    }
                }
                (!b.is_empty()).then(|| Arc::new(Node::Branch(b)))
            }
            // Arrays never get here: values are validated before they are written.
            other => Some(Arc::new(Node::Leaf(other.clone()))),
        }
    }

    /// Number of direct children (0 for a leaf).
    pub fn num_children(&self) -> usize {
        match self {
            Node::Branch(b) => b.children.len(),
            Node::Leaf(_) => 0,
        }
    }
}

/// A canonical JS array index (`"0"`, `"17"`, not `"01"`), which JS orders first.
fn js_array_index(k: &str) -> Option<u64> {
    if k.is_empty() || (k.len() > 1 && k.starts_with('0')) || !k.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    k.parse::<u64>().ok().filter(|&i| i < u32::MAX as u64)
}

/// One tree; `None` root means empty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tree {
    root: Option<Arc<Node>>,
}

impl Tree {
    /// The node at `labels` (the root for no labels).
    pub fn get(&self, labels: &[&str]) -> Option<&Arc<Node>> {
        let mut node = self.root.as_ref()?;
        for label in labels {
            node = node.child(label)?;
        }
        Some(node)
    }

    /// The root node.
    pub fn root(&self) -> Option<&Arc<Node>> {
        self.root.as_ref()
    }

    /// The value at `labels`, `null` when absent.
    pub fn value(&self, labels: &[&str]) -> Value {
        self.get(labels).map_or(Value::Null, |n| n.to_value(false))
    }

    /// Replaces the subtree at `labels` with `new` (deleting it for `None`, pruning parents left
    /// empty) and returns the subtree it replaced with its serial. `serial` forces the serial
    /// of a re-inserted label (rollback); otherwise an existing label keeps its own.
    fn replace(
        &mut self,
        labels: &[&str],
        new: Option<Arc<Node>>,
        serial: Option<u64>,
    ) -> (Option<Arc<Node>>, Option<u64>) {
        let mut old = (None, None);
        let root = self.root.take();
        self.root = replace_at(root, labels, new, serial, &mut old);
        old
    }
}

/// Path-copying replacement: a node shared with another state is copied, a unique one is
/// changed in place. Tree bytes are adjusted on the way back up.
fn replace_at(
    node: Option<Arc<Node>>,
    labels: &[&str],
    new: Option<Arc<Node>>,
    serial: Option<u64>,
    old: &mut (Option<Arc<Node>>, Option<u64>),
) -> Option<Arc<Node>> {
    let Some((first, rest)) = labels.split_first() else {
        old.0 = node;
        return new;
    };
    let mut node = match node {
        Some(n) if matches!(*n, Node::Branch(_)) => n,
        // A leaf on the way is overwritten by a branch, as the node's `resetValue` does.
        other => {
            if new.is_none() {
                return other;
            }
            Arc::new(Node::Branch(Branch::new()))
        }
    };
    let Node::Branch(b) = Arc::make_mut(&mut node) else {
        return Some(node);
    };
    let child = b.remove(first);
    if child.is_none() && new.is_none() {
        return (!b.is_empty()).then_some(node);
    }
    let (child_node, child_serial) = match child {
        Some(c) => (Some(c.node), Some(c.serial)),
        None => (None, None),
    };
    if rest.is_empty() {
        old.1 = child_serial;
    }
    let keep = if rest.is_empty() {
        serial.or(child_serial)
    } else {
        child_serial
    };
    if let Some(c) = replace_at(child_node, rest, new, serial, old) {
        b.insert(first, c, keep);
    }
    (!b.is_empty()).then_some(node)
}

/// One journaled write: enough to undo it.
#[derive(Clone, Debug)]
struct Undo {
    kind: TreeKind,
    labels: Vec<String>,
    old: Option<Arc<Node>>,
    serial: Option<u64>,
}

/// The four trees and the undo journal of the writes since the last [`State::commit`].
#[derive(Clone, Debug, Default)]
pub struct State {
    trees: [Tree; 4],
    journal: Vec<Undo>,
}

/// A point in the journal to roll back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark(usize);

impl State {
    /// The tree of `kind`.
    pub fn tree(&self, kind: TreeKind) -> &Tree {
        &self.trees[kind.index()]
    }

    /// The value at `labels` of tree `kind`, `null` when absent.
    pub fn read(&self, kind: TreeKind, labels: &[&str]) -> Value {
        self.tree(kind).value(labels)
    }

    /// Shorthand for a value read.
    pub fn value(&self, labels: &[&str]) -> Value {
        self.read(TreeKind::Values, labels)
    }

    /// Writes `value` at `labels` of tree `kind` (`null` deletes), journaled.
    pub fn write(&mut self, kind: TreeKind, labels: &[&str], value: &Value) {
        let new = Node::from_value(value);
        let (old, serial) = self.trees[kind.index()].replace(labels, new, None);
        self.journal.push(Undo {
            kind,
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            old,
            serial,
        });
    }

    /// The current journal position.
    pub fn mark(&self) -> Mark {
        Mark(self.journal.len())
    }

    /// Undoes every write after `mark`, newest first.
    pub fn rollback(&mut self, mark: Mark) {
        while self.journal.len() > mark.0 {
            let Some(u) = self.journal.pop() else { break };
            let labels: Vec<&str> = u.labels.iter().map(String::as_str).collect();
            self.trees[u.kind.index()].replace(&labels, u.old, u.serial);
        }
    }

    /// Forgets the journal: the writes so far can no longer be undone.
    pub fn commit(&mut self) {
        self.journal.clear();
    }

    /// The whole state as JSON (`{"values":…,"rules":…,"functions":…,"owners":…}`), for
    /// snapshots.
    pub fn to_snapshot(&self) -> Value {
        let mut out = Map::new();
        for kind in TreeKind::ALL {
            let v = self
                .tree(kind)
                .root()
                .map_or(Value::Null, |n| n.to_value(false));
            out.insert(kind.name().to_owned(), v);
        }
        Value::Object(out)
    }

    /// Rebuilds a state from [`State::to_snapshot`] output.
    pub fn from_snapshot(snapshot: &Value) -> State {
        let mut state = State::default();
        for kind in TreeKind::ALL {
            if let Some(v) = snapshot.get(kind.name()) {
                state.trees[kind.index()].root = Node::from_value(v);
            }
        }
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_read_delete_prunes_parents() {
        let mut s = State::default();
        s.write(TreeKind::Values, &["a", "b", "c"], &json!(1));
        s.write(TreeKind::Values, &["a", "x"], &json!({"y": "z"}));
        assert_eq!(s.value(&["a"]), json!({"b": {"c": 1}, "x": {"y": "z"}}));
        s.write(TreeKind::Values, &["a", "b", "c"], &Value::Null);
        assert_eq!(s.value(&["a"]), json!({"x": {"y": "z"}}));
        s.write(TreeKind::Values, &["a", "x", "y"], &Value::Null);
        assert_eq!(s.value(&[]), Value::Null);
        assert!(s.tree(TreeKind::Values).root().is_none());
    }

    #[test]
    fn leaf_on_the_way_becomes_a_branch_and_nulls_are_dropped() {
        let mut s = State::default();
        s.write(TreeKind::Values, &["a"], &json!(5));
        s.write(TreeKind::Values, &["a", "b"], &json!(true));
        assert_eq!(s.value(&["a"]), json!({"b": true}));
        s.write(TreeKind::Values, &["a"], &json!({"n": null, "m": 1}));
        assert_eq!(s.value(&["a"]), json!({"m": 1}));
        s.write(TreeKind::Values, &["q"], &json!({"n": null}));
        assert_eq!(s.value(&["q"]), Value::Null);
        // Deleting under a leaf or an absent path changes nothing.
        s.write(TreeKind::Values, &["a", "m", "z"], &Value::Null);
        assert_eq!(s.value(&["a"]), json!({"m": 1}));
    }

    #[test]
    fn rollback_restores_exactly_and_clones_are_independent() {
        let mut s = State::default();
        s.write(TreeKind::Values, &["apps", "x", "v"], &json!(1));
        s.write(TreeKind::Rules, &["apps", ".rule"], &json!({"write": true}));
        s.commit();
        let before = s.to_snapshot();
        let copy = s.clone();
        let m = s.mark();
        s.write(TreeKind::Values, &["apps", "x", "v"], &json!(2));
        s.write(TreeKind::Values, &["apps", "x"], &Value::Null);
        s.write(TreeKind::Values, &["apps", "y"], &json!({"k": "v"}));
        s.write(TreeKind::Rules, &["apps", ".rule"], &Value::Null);
        assert_ne!(s.to_snapshot(), before);
        assert_eq!(copy.to_snapshot(), before);
        s.rollback(m);
        assert_eq!(s.to_snapshot(), before);
        assert_eq!(State::from_snapshot(&before).to_snapshot(), before);
    }

    #[test]
    fn shallow_reads_hash_branch_children() {
        let mut s = State::default();
        s.write(
            TreeKind::Values,
            &["a"],
            &json!({"leaf": 1, "sub": {"k": "v"}}),
        );
        let v = s.tree(TreeKind::Values).get(&["a"]).unwrap().to_value(true);
        assert_eq!(v["leaf"], 1);
        assert!(v["sub"]["#state_ph"].as_str().unwrap().starts_with("0x"));
    }
}
