-- A counter moved forward by every change to existing tokens (revoke, extend, new scope,
-- instance disabled), in the same transaction. Each process caches verified tokens and drops
-- its cache when the counter moves, so a revoke on one replica is honoured by all.
CREATE TABLE token_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch BIGINT  NOT NULL
);
INSERT INTO token_epoch (id, epoch) VALUES (1, 0);
