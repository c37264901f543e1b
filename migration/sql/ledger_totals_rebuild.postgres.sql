-- Rebuilds ledger_totals from the ledger (PostgreSQL): the sum and count of the entries per partner, month of
-- accrued_at in UTC (year * 12 + month - 1) and current status. Used by migration
-- m20261201_000015_ledger_totals and by scripts/bench-scale.sh; run it on an empty ledger_totals.
INSERT INTO ledger_totals (partner_id, month, status, amount_minor, entries)
SELECT partner_id,
       EXTRACT(YEAR FROM accrued_at AT TIME ZONE 'UTC')::bigint * 12
           + EXTRACT(MONTH FROM accrued_at AT TIME ZONE 'UTC')::bigint - 1,
       status, SUM(amount_minor)::bigint, COUNT(*)
FROM commissions
GROUP BY 1, 2, 3
