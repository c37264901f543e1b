-- Fills ledger_vendor_totals from ledger_totals (PostgreSQL): per month, status and slot, the slot being the
-- partner id's last byte modulo 16 (src/service/ledger_totals.rs slot_of). Used by migration
-- m20261202_000018_vendor_ledger_totals and by scripts/bench-scale.sh; run it on an empty ledger_vendor_totals.
INSERT INTO ledger_vendor_totals (month, status, slot, amount_minor, entries)
SELECT month, status, get_byte(uuid_send(partner_id), 15) % 16, SUM(amount_minor)::bigint, SUM(entries)::bigint
FROM ledger_totals
GROUP BY 1, 2, 3
