-- Rebuilds ledger_totals from the ledger (SQLite): the sum and count of the entries per partner, month of
-- accrued_at in UTC (year * 12 + month - 1) and current status. Used by migration
-- m20261201_000015_ledger_totals; run it on an empty ledger_totals.
INSERT INTO ledger_totals (partner_id, month, status, amount_minor, entries)
SELECT partner_id,
       CAST(strftime('%Y', accrued_at) AS INTEGER) * 12 + CAST(strftime('%m', accrued_at) AS INTEGER) - 1,
       status, SUM(amount_minor), COUNT(*)
FROM commissions
GROUP BY 1, 2, 3
