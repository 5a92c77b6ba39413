-- The read model behind GET /records/{id}. Written only by the projector; every column derives from events,
-- so a rebuild from the log reproduces it exactly.
CREATE TABLE credit_records (
    id              uuid    NOT NULL PRIMARY KEY,
    project_name    text    NOT NULL,
    registry        text    NOT NULL,
    vintage         integer NOT NULL,
    quantity        bigint  NOT NULL,
    serial_number   text    NOT NULL,
    status          text    NOT NULL CHECK (status IN ('CREATED', 'SOLD', 'RETIRED')),
    version         bigint  NOT NULL CHECK (version >= 1),
    -- [{"version", "type", "recorded_at", "data"}], oldest first.
    history         jsonb   NOT NULL,
    -- The log position of the last event applied, for lag measurement and audits.
    last_position   bigint  NOT NULL
);

INSERT INTO projection_checkpoints (projection_name) VALUES ('credit_records');
