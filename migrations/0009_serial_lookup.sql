-- 0009: GET /records?registry=R&serial_number=S (the explorer's lookup by serial number) is answered by an
-- index: every block carved out of one issuance keeps its serial number, so this finds the parent and all
-- its children without reading the rest of the registry.
CREATE INDEX credit_records_serial ON credit_records (lower(registry), serial_number, id);
