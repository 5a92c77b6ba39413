-- The verifiable log (docs/audit.md): every event is a leaf of an RFC 9162 Merkle tree, in the order the
-- projector reads the log (transaction_id, position below the snapshot horizon); the sealer (inside
-- `carbon-ledger project`) appends leaves, the tree's complete nodes and a signed checkpoint in one
-- transaction. Nothing here is ever updated or deleted: a checkpoint an auditor kept stays provable.

-- One row per leaf. leaf_data is the RFC 8785 canonical JSON of the event as it was sealed, so a later edit
-- of the event shows as a difference (carbon-ledger verify), and proofs are served without re-encoding.
CREATE TABLE log_leaves (
    leaf_index bigint NOT NULL PRIMARY KEY CHECK (leaf_index >= 0),
    position   bigint NOT NULL UNIQUE,              -- events.position of the event
    leaf_data  text   NOT NULL,
    leaf_hash  bytea  NOT NULL CHECK (length(leaf_hash) = 32)  -- SHA-256(0x00 || leaf_data)
);

-- Every complete subtree above the leaves: node (level, node_index) is the hash of leaves
-- [node_index * 2^level, (node_index + 1) * 2^level). With these, any inclusion or consistency proof, and
-- the root of any earlier tree size, takes O(log n) rows (as in Trillian's and Tessera's storage).
CREATE TABLE log_nodes (
    level      smallint NOT NULL CHECK (level BETWEEN 1 AND 62),
    node_index bigint   NOT NULL CHECK (node_index >= 0),
    hash       bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, node_index)
);

-- Signed checkpoints (C2SP tlog-checkpoint notes), one per sealing transaction, each checked consistent
-- with the one before it before it is stored. transaction_id/position: the last leaf's event, where the
-- next seal continues.
CREATE TABLE log_checkpoints (
    tree_size      bigint      NOT NULL PRIMARY KEY CHECK (tree_size >= 1),
    root_hash      bytea       NOT NULL CHECK (length(root_hash) = 32),
    note           text        NOT NULL,
    verifier_key   text        NOT NULL,
    transaction_id xid8        NOT NULL,
    position       bigint      NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TRIGGER log_leaves_no_update_or_delete
    BEFORE UPDATE OR DELETE ON log_leaves FOR EACH ROW EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER log_leaves_no_truncate
    BEFORE TRUNCATE ON log_leaves FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER log_nodes_no_update_or_delete
    BEFORE UPDATE OR DELETE ON log_nodes FOR EACH ROW EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER log_nodes_no_truncate
    BEFORE TRUNCATE ON log_nodes FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER log_checkpoints_no_update_or_delete
    BEFORE UPDATE OR DELETE ON log_checkpoints FOR EACH ROW EXECUTE FUNCTION public.ledger_reject_change();
CREATE TRIGGER log_checkpoints_no_truncate
    BEFORE TRUNCATE ON log_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION public.ledger_reject_change();

-- The sealer's place in the log and its single-leader lock: a row lock on its projection_checkpoints row,
-- as for the credit_records projection (projector/projector.h), which only ledger_project and the owner
-- can take.
INSERT INTO projection_checkpoints (projection_name) VALUES ('merkle_log');

GRANT SELECT, INSERT ON log_leaves, log_nodes, log_checkpoints TO ledger_project;
GRANT SELECT ON log_leaves, log_nodes, log_checkpoints TO ledger_serve, ledger_auditor;
