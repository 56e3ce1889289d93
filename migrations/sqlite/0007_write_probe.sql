-- One row that `/readyz` rewrites with a new value at every check, so the check is a real write:
-- while the disk is full or failing, the server says it is not ready. It holds no data.
CREATE TABLE write_probe (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    probed_at BIGINT  NOT NULL
);
INSERT INTO write_probe (id, probed_at) VALUES (1, 0);
