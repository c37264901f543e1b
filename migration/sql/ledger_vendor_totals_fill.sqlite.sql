-- Fills ledger_vendor_totals from ledger_totals (SQLite, where an id is a 16-byte blob: its last hexadecimal
-- digit is its last byte modulo 16). Used by migration m20261202_000018_vendor_ledger_totals; run it on an
-- empty ledger_vendor_totals.
INSERT INTO ledger_vendor_totals (month, status, slot, amount_minor, entries)
SELECT month, status, instr('0123456789ABCDEF', substr(hex(partner_id), 32, 1)) - 1, SUM(amount_minor), SUM(entries)
FROM ledger_totals
GROUP BY 1, 2, 3
