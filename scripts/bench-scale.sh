#!/usr/bin/env bash
# Scale benchmark (issue 14): loads SCALE times the benchmark data set (1,000 partners, 100,000 clients,
# one ITSaaS contract per client) into a THROWAWAY PostgreSQL with generate_series, migrates it with the
# service's own migrations, and prints EXPLAIN (ANALYZE, BUFFERS) times and rows for the hot partner
# queries, for a big partner (10 % of all clients) and a small one.
#
#   bash .ci/run --with-pg bash scripts/bench-scale.sh          # SCALE=10: 10,000 partners, 1,000,000 clients
#   SCALE=1 bash .ci/run --with-pg bash scripts/bench-scale.sh
#
# .ci/run --with-pg gives a private cluster on a free port and deletes it on exit. The script refuses the
# shared development server (port 55999). 10x needs about 1.5 GB of disk for this data set.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?run it through: bash .ci/run --with-pg bash scripts/bench-scale.sh}"
case "$DATABASE_URL" in *:55999/*) echo "refusing the shared development server" >&2; exit 1 ;; esac
SCALE="${SCALE:-10}"
PARTNERS=$(awk "BEGIN { printf \"%d\", 1000 * $SCALE }")
CLIENTS=$(awk "BEGIN { printf \"%d\", 100000 * $SCALE }")
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$DATABASE_URL" "$@"; }

echo "== scale $SCALE: $PARTNERS partners, $CLIENTS clients"
# PARTNERGRAPH_BIN: a binary built already (the debug build of this checkout otherwise).
BIN="${PARTNERGRAPH_BIN:-./target/debug/partnergraph}"
[ -n "${PARTNERGRAPH_BIN:-}" ] || cargo build -q --bin partnergraph
"$BIN" migrate --database-url "$DATABASE_URL" >/dev/null
"$BIN" seed --presets --database-url "$DATABASE_URL" >/dev/null
start=$(date +%s)
psql <<SQL
INSERT INTO tariffs (id, code, name, program_id, category, monthly_price_minor, periods, trial_days, partner_only,
                     archived, created_at)
SELECT md5('bench-tariff')::uuid, 'BENCH-ITS', 'Bench ITSaaS', id, 'ITSAAS', 100000, '1,3,12', 0, false, false, now()
FROM programs WHERE code = '1C-FRESH';
-- Partner 1 is the big one; the others share the rest.
INSERT INTO subscribers (id, kind, name, search_name, created_at, updated_at)
SELECT md5('p' || i)::uuid, 'PARTNER', 'Partner ' || i, 'partner ' || i, now(), now()
FROM generate_series(1, $PARTNERS) i;
INSERT INTO subscribers (id, kind, name, search_name, email, inn, serving_partner_id, binding_source, created_at,
                         updated_at)
SELECT md5('c' || i)::uuid, 'CLIENT', 'Клиент ' || i, 'клиент ' || i, 'client' || i || '@example.com',
       lpad(i::text, 10, '0'),
       md5('p' || CASE WHEN i % 10 = 0 THEN 1 ELSE 2 + i % ($PARTNERS - 1) END)::uuid, 'PARTNER_REGISTRATION',
       now(), now()
FROM generate_series(1, $CLIENTS) i;
INSERT INTO subscriptions (id, subscriber_id, tariff_id, basis, starts_at, ends_at, created_at)
SELECT md5('s' || i)::uuid, md5('c' || i)::uuid, md5('bench-tariff')::uuid, 'PAID',
       timestamptz '2026-01-01' + (i % 300) * interval '1 day',
       timestamptz '2026-01-01' + (i % 300) * interval '1 day' + interval '3 months', now()
FROM generate_series(1, $CLIENTS) i;
VACUUM ANALYZE;
SQL
echo "loaded in $(( $(date +%s) - start )) s; database $(psql -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"

# --- Ledger and payments (issue 14, point 4) --------------------------------------------------------------
# 10 payments per client from 2025-01-01 to 2026-11-30 (UTC), one ledger entry each (4 in 10 PAID, 2 APPROVED,
# 4 ACCRUED), 1 in 100 refunded on 2026-11-15 with its reversing entry. The two tables' secondary indexes and
# the foreign-key triggers are set aside during the load and rebuilt after it; the totals are then rebuilt
# by the migration's own statement (migration/sql/ledger_totals_rebuild.postgres.sql).
# LEDGER_PER_CLIENT (default 10) sets how many payments and entries each client gets.
LEDGER_PER_CLIENT="${LEDGER_PER_CLIENT:-10}"
PAYMENTS=$(( CLIENTS * LEDGER_PER_CLIENT ))
start=$(date +%s)
ledger_indexes=$(psql -At -c "SELECT string_agg(indexname, ', ') FROM pg_indexes
                              WHERE tablename IN ('payments', 'commissions') AND indexname NOT LIKE '%pkey'")
ledger_index_defs=$(psql -At -c "SELECT indexdef || ';' FROM pg_indexes
                                 WHERE tablename IN ('payments', 'commissions') AND indexname NOT LIKE '%pkey'")
psql <<SQL
DROP INDEX $ledger_indexes;
SET session_replication_role = replica;
CREATE TEMP VIEW bench_pay AS
SELECT n, c, md5('p' || CASE WHEN c % 10 = 0 THEN 1 ELSE 2 + c % ($PARTNERS - 1) END)::uuid AS partner,
       timestamptz '2025-01-01 00:00:00+00' + ((n::bigint * 7919) % 699) * interval '1 day' + (n % 86400) * interval '1 second'
           AS paid_at
FROM (SELECT n, (n - 1) / $LEDGER_PER_CLIENT + 1 AS c FROM generate_series(1, $PAYMENTS) n) g;
INSERT INTO payments (id, subscriber_id, tariff_id, subscription_id, period_months, amount_minor, channel, paid_at,
                      external_id, fingerprint, invoice_id, refunded_at, refund_external_id, created_at,
                      serving_partner_id)
SELECT md5('pay' || n)::uuid, md5('c' || c)::uuid, md5('bench-tariff')::uuid, md5('s' || c)::uuid, 1, 100000, 'DIRECT',
       paid_at, 'bench-' || n, 'fp-' || n, NULL,
       CASE WHEN n % 100 = 7 THEN timestamptz '2026-11-15 12:00:00+00' END,
       CASE WHEN n % 100 = 7 THEN 'bench-refund-' || n END, paid_at, partner
FROM bench_pay;
INSERT INTO commissions (id, partner_id, payment_id, rule_id, rate_bp, base_minor, amount_minor, status, reverses_id,
                         payout_reference, accrued_at, created_at, approved_at, paid_at)
SELECT md5('com' || n)::uuid, partner, md5('pay' || n)::uuid, NULL, 2500, 100000, 25000,
       CASE WHEN n % 10 < 4 THEN 'PAID' WHEN n % 10 < 6 THEN 'APPROVED' ELSE 'ACCRUED' END, NULL,
       CASE WHEN n % 10 < 4 THEN 'PO-bench' END, paid_at, paid_at,
       CASE WHEN n % 10 < 6 THEN paid_at END, CASE WHEN n % 10 < 4 THEN paid_at END
FROM bench_pay;
INSERT INTO commissions (id, partner_id, payment_id, rule_id, rate_bp, base_minor, amount_minor, status, reverses_id,
                         payout_reference, accrued_at, created_at, approved_at, paid_at)
SELECT md5('rev' || n)::uuid, partner, md5('pay' || n)::uuid, NULL, 2500, -100000, -25000, 'REVERSED',
       md5('com' || n)::uuid, NULL, timestamptz '2026-11-15 12:00:00+00', timestamptz '2026-11-15 12:00:00+00', NULL, NULL
FROM bench_pay WHERE n % 100 = 7;
SET session_replication_role = origin;
$ledger_index_defs
DELETE FROM ledger_totals;
\i migration/sql/ledger_totals_rebuild.postgres.sql
DELETE FROM ledger_vendor_totals;
\i migration/sql/ledger_vendor_totals_fill.postgres.sql
VACUUM ANALYZE payments;
VACUUM ANALYZE commissions;
VACUUM ANALYZE ledger_totals;
VACUUM ANALYZE ledger_vendor_totals;
SQL
echo "ledger: $PAYMENTS payments, $(psql -At -c "SELECT COUNT(*) FROM commissions") entries, $(psql -At -c "SELECT COUNT(*) FROM ledger_totals") total rows, $(psql -At -c "SELECT COUNT(*) FROM ledger_vendor_totals") vendor total rows, loaded in $(( $(date +%s) - start )) s; database $(psql -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
# --- end of ledger and payments ---------------------------------------------------------------------------

big=$(psql -At -c "SELECT md5('p1')::uuid")
small=$(psql -At -c "SELECT md5('p2')::uuid")
program=$(psql -At -c "SELECT id FROM programs WHERE code = '1C-FRESH'")
cols='id, kind, name, inn, kpp, email, phone, address, contact_person, serving_partner_id, binding_source, support_partner_id, created_at, updated_at, search_name'

# Prints "label  time  rows" from EXPLAIN (ANALYZE, BUFFERS) of a statement: the execution time and the
# rows every node produced or filtered out.
measure() {
    local label="$1" sql="$2"
    psql -At -c "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) $sql" | python3 -c '
import json, sys
plan = json.load(sys.stdin)[0]
def touched(n):
    loops = n.get("Actual Loops", 1)
    own = (n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0) + n.get("Rows Removed by Index Recheck", 0)) * loops
    return own + sum(touched(c) for c in n.get("Plans", []))
ms, rows = plan["Execution Time"], touched(plan["Plan"])
print(f"| {sys.argv[1]:<44} | {ms:>10.2f} ms | {rows:>12,.0f} |")
' "$label"
}

printf '| %-44s | %13s | %12s |\n' "query" "time" "rows touched"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..14})"
for who in big small; do
    p=${!who}
    # The client page as the service now runs it: one index range per branch, merged.
    measure "$who partner: client page (serving range)" \
        "SELECT $cols FROM subscribers WHERE serving_partner_id = '$p' AND kind = 'CLIENT' ORDER BY id LIMIT 51"
    # What it ran before: one OR over the whole reach.
    measure "$who partner: client page (old OR)" \
        "SELECT $cols FROM subscribers WHERE kind = 'CLIENT' AND (id = '$p' OR (kind = 'CLIENT' AND (serving_partner_id = '$p' OR support_partner_id = '$p'))) ORDER BY id LIMIT 51"
done
measure "vendor search by part of a name" \
    "SELECT $cols FROM subscribers WHERE search_name LIKE '%ент 4242%' OR inn = 'ент 4242' OR email LIKE '%ент 4242%' ORDER BY id LIMIT 51"

# The ranking as the scheduler computes it: the statement of src/service/ranking.rs (ranking_sql) with
# Q3 2026 in UTC; keep the two in step.
echo
echo "ranking: computing it (the scheduler, once per refresh) with PostgreSQL's default work_mem and with 64 MB:"
RANKING_SQL="
INSERT INTO ranking_rows (run_id, position, partner_id, new_contracts, churned)
SELECT md5('RUN')::uuid, ROW_NUMBER() OVER (ORDER BY t.new_contracts - t.churned DESC, t.new_contracts DESC, p.name COLLATE \"C\", p.id),
       t.partner_id, t.new_contracts, t.churned
FROM (SELECT c.serving_partner_id AS partner_id,
             SUM(CASE WHEN k.first_start >= '2026-07-01' THEN 1 ELSE 0 END) AS new_contracts,
             SUM(CASE WHEN k.first_start < '2026-07-01' AND k.last_end >= '2026-07-01' AND k.last_end < '2026-10-01' AND k.last_end <= now() THEN 1 ELSE 0 END) AS churned
      FROM (SELECT s.subscriber_id AS client_id, MIN(s.starts_at) AS first_start,
                   MAX(CASE WHEN s.cancelled_at IS NOT NULL AND s.cancelled_at < s.ends_at THEN s.cancelled_at ELSE s.ends_at END) AS last_end
            FROM subscriptions s JOIN tariffs tr ON tr.id = s.tariff_id
            WHERE tr.program_id = '$program' AND tr.category = 'ITSAAS' AND s.basis = 'PAID' AND s.starts_at < '2026-10-01'
            GROUP BY s.subscriber_id
            HAVING MIN(s.starts_at) >= '2026-07-01' OR MAX(CASE WHEN s.cancelled_at IS NOT NULL AND s.cancelled_at < s.ends_at THEN s.cancelled_at ELSE s.ends_at END) >= '2026-07-01') k
      JOIN subscribers c ON c.id = k.client_id
      WHERE c.serving_partner_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM subscriptions x WHERE x.subscriber_id = k.client_id AND x.basis = 'ITS_PROF')
        AND NOT EXISTS (SELECT 1 FROM binding_changes b WHERE b.client_id = k.client_id AND b.source IN ('LEAD_DISTRIBUTION', 'BONUS_PROMO', 'DISCOUNT_PROMO'))
      GROUP BY c.serving_partner_id) t
JOIN subscribers p ON p.id = t.partner_id AND p.kind = 'PARTNER'
WHERE t.new_contracts > 0 OR t.churned > 0"
for wm in 4MB 64MB; do
    run="bench-run-$wm"; [ "$wm" = 64MB ] && run="bench-run"
    psql -c "INSERT INTO ranking_runs (id, program_id, quarter, computed_at, closed) VALUES (md5('$run')::uuid, '$program', CASE WHEN '$wm' = '64MB' THEN '2026-Q3' ELSE '2026-Q2' END, NULL, false)"
    psql -At -c "SET work_mem = '$wm'" -c "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${RANKING_SQL//RUN/$run}" | python3 -c '
import json, sys
plan = json.load(sys.stdin)[0]
def temp(n):
    return n.get("Temp Written Blocks", 0) + sum(temp(c) for c in n.get("Plans", []))
ms, mb = plan["Execution Time"], temp(plan["Plan"]) * 8 / 1024
print(f"  work_mem {sys.argv[1]:>5}: {ms:>9.0f} ms, {mb:,.0f} MB written to temporary files")
' "$wm"
done
echo
echo "ranking (stored rows read, per request):"
printf '| %-44s | %13s | %12s |\n' "query" "time" "rows touched"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..14})"
measure "ranking read (stored rows of one quarter)" \
    "SELECT run_id, position, partner_id, new_contracts, churned FROM ranking_rows WHERE run_id = md5('bench-run')::uuid ORDER BY position"
measure "ranking partners, before (any kind)" \
    "SELECT $cols FROM subscribers WHERE id IN (SELECT partner_id FROM ranking_rows WHERE run_id = md5('bench-run')::uuid)"
# As src/service/ranking.rs (partners_query) reads them: the partners' range of ix_subscribers_kind.
measure "ranking partners (kind = PARTNER)" \
    "SELECT $cols FROM subscribers WHERE kind = 'PARTNER' AND id IN (SELECT partner_id FROM ranking_rows WHERE run_id = md5('bench-run')::uuid)"
# A partnerRanking request since issue 14's second round: one page (default 100 lines, at most 500) by the
# primary key (run_id, position), or one partner's line by (run_id, partner_id); then that page's partners
# by primary key, their ids bound as a list (src/service/ranking.rs rows_query, partners_query).
# Statistics as autovacuum keeps them for a table rewritten every few minutes (see the README's autovacuum
# settings): without them a freshly loaded ranking_rows may be read by a sequential scan.
psql -c "ANALYZE ranking_rows"
ranked=$(psql -At -c "SELECT count(*) FROM ranking_rows WHERE run_id = md5('bench-run')::uuid")
echo "stored ranking: $ranked lines"
measure "ranking page: first 100 lines" \
    "SELECT run_id, position, partner_id, new_contracts, churned FROM ranking_rows WHERE run_id = md5('bench-run')::uuid AND position >= 1 ORDER BY position LIMIT 100"
measure "ranking page: 500 lines from rank 5001" \
    "SELECT run_id, position, partner_id, new_contracts, churned FROM ranking_rows WHERE run_id = md5('bench-run')::uuid AND position >= 5001 ORDER BY position LIMIT 500"
measure "ranking: one partner's line (partnerId)" \
    "SELECT run_id, position, partner_id, new_contracts, churned FROM ranking_rows WHERE run_id = md5('bench-run')::uuid AND position >= 1 AND partner_id = '$small' LIMIT 1"
page_ids=$(psql -At -c "SELECT string_agg(quote_literal(partner_id::text) || '::uuid', ',' ORDER BY position) FROM (SELECT partner_id, position FROM ranking_rows WHERE run_id = md5('bench-run')::uuid ORDER BY position LIMIT 100) r")
measure "ranking page: its 100 partners by id" \
    "SELECT $cols FROM subscribers WHERE kind = 'PARTNER' AND id IN ($page_ids)"

# --- Ledger totals (issue 14, point 4): the vendor's commissionSummary for 2026 ----------------------------
# Old: the ledger's entries of the year. New: the statement src/service/ledger_totals.rs (sums) builds, the
# months of 2026 being 2026 * 12 + 0 .. 11; and a range not aligned to months (totals + the edges' entries).
measure "vendor year summary (old: ledger entries)" \
    "SELECT status, CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM commissions WHERE accrued_at >= '2026-01-01 00:00:00+00' AND accrued_at < '2027-01-01 00:00:00+00' GROUP BY status"
measure "vendor year summary (ledger totals)" \
    "SELECT status, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM (SELECT status, amount_minor AS amount FROM ledger_totals WHERE month >= 24312 AND month < 24324) AS parts GROUP BY status"
# Since migration 000018: the vendor's slots (16 per month and status), as sums() reads them without a partner.
measure "vendor year summary (vendor totals, 16 slots)" \
    "SELECT status, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM (SELECT status, amount_minor AS amount FROM ledger_vendor_totals WHERE month >= 24312 AND month < 24324) AS parts GROUP BY status"
measure "vendor all-time summary (vendor totals)" \
    "SELECT status, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM (SELECT status, amount_minor AS amount FROM ledger_vendor_totals) AS parts GROUP BY status"
measure "vendor summary 2025-12-15..2026-12-15 (vendor totals+edges)" \
    "SELECT status, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM ((SELECT status, amount_minor AS amount FROM ledger_vendor_totals WHERE month >= 24312 AND month < 24323) UNION ALL (SELECT status, amount_minor AS amount FROM commissions WHERE accrued_at >= '2025-12-15 00:00:00+00' AND accrued_at < '2026-01-01 00:00:00+00') UNION ALL (SELECT status, amount_minor AS amount FROM commissions WHERE accrued_at >= '2026-12-01 00:00:00+00' AND accrued_at < '2026-12-15 00:00:00+00')) AS parts GROUP BY status"
measure "vendor summary 2025-12-15..2026-12-15 (totals+edges)" \
    "SELECT status, CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM ((SELECT status, amount_minor AS amount FROM ledger_totals WHERE month >= 24312 AND month < 24323) UNION ALL (SELECT status, amount_minor AS amount FROM commissions WHERE accrued_at >= '2025-12-15 00:00:00+00' AND accrued_at < '2026-01-01 00:00:00+00') UNION ALL (SELECT status, amount_minor AS amount FROM commissions WHERE accrued_at >= '2026-12-01 00:00:00+00' AND accrued_at < '2026-12-15 00:00:00+00')) AS parts GROUP BY status"

# ---- Payments, lead-pool publication and the audit log (issue 14.3, 14.6) ------------------------------
# The payments are the ledger block's (10 per client); AUDIT_PER_CLIENT audit entries per client (default 1,
# spread over 24 months, so the monthly partitions of migration 000016 hold them).
AUDIT_PER_CLIENT="${AUDIT_PER_CLIENT:-1}"
start=$(date +%s)
psql <<SQL
-- A quarter of the partners meet the lead-pool conditions; statuses as the presets name them.
INSERT INTO partner_statuses (id, partner_id, program_id, status, updated_at)
SELECT md5('ps' || i)::uuid, md5('p' || i)::uuid, '$program',
       (SELECT code FROM program_statuses WHERE program_id = '$program' ORDER BY rank DESC LIMIT 1), now()
FROM generate_series(1, $PARTNERS) i WHERE i % 4 = 0;
INSERT INTO partner_profiles (subscriber_id, referral_code, service_desk_connected, has_consultants,
                              has_customization_specialists)
SELECT md5('p' || i)::uuid, 'BENCH' || i, i % 2 = 0, true, true FROM generate_series(1, $PARTNERS) i;
-- The months the scheduler would have created over two years (the migration made this one and the next).
DO \$\$ BEGIN
  FOR m IN 0..22 LOOP
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)',
                   to_char(date '2025-01-01' + m * interval '1 month', '"audit_log_y"YYYY"m"MM'),
                   to_char(date '2025-01-01' + m * interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00',
                   to_char(date '2025-01-01' + (m + 1) * interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00');
  END LOOP;
END \$\$;
INSERT INTO audit_log (id, at, subscriber_id, operation, outcome)
SELECT md5('a' || i || ':' || k)::uuid, timestamptz '2025-01-01' + (i % 730) * interval '1 day' + k * interval '1 minute',
       md5('p' || CASE WHEN i % 10 = 0 THEN 1 ELSE 2 + i % ($PARTNERS - 1) END)::uuid, 'registerClient', 'OK'
FROM generate_series(1, $CLIENTS) i, generate_series(1, $AUDIT_PER_CLIENT) k;
VACUUM ANALYZE;
SQL
echo
echo "profiles, statuses and audit entries loaded in $(( $(date +%s) - start )) s; database $(psql -At -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
psql -At -c "SELECT 'audit_log partitions: ' || count(*) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass"
printf '| %-44s | %13s | %12s |\n' "query" "time" "rows touched"
printf '|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "$(printf -- '-%.0s' {1..15})" "$(printf -- '-%.0s' {1..14})"
pcols='id, subscriber_id, tariff_id, subscription_id, period_months, amount_minor, channel, paid_at, external_id, fingerprint, invoice_id, refunded_at, refund_external_id, created_at, serving_partner_id'
for who in big small; do
    p=${!who}
    # src/service/billing/payments.rs list_payments for a partner since migration 000019: one range of
    # (serving_partner_id, id); before it, a semi-join of the partner's clients.
    measure "$who partner: payments page (serving range)" \
        "SELECT $pcols FROM payments WHERE serving_partner_id = '$p' ORDER BY id LIMIT 51"
    measure "$who partner: payments page (old semi-join)" \
        "SELECT $pcols FROM payments WHERE subscriber_id IN (SELECT id FROM subscribers WHERE kind = 'CLIENT' AND serving_partner_id = '$p') ORDER BY id LIMIT 51"
    measure "$who partner: audit page (owner)" \
        "SELECT * FROM audit_log WHERE subscriber_id = '$p' ORDER BY id LIMIT 51"
done
measure "vendor: audit page" "SELECT * FROM audit_log ORDER BY id LIMIT 51"
# The cursor is a literal id, as the service binds it (src/service/audit.rs list: `id > $cursor ORDER BY id`);
# looking it up is not part of the page.
audit_cursor=$(psql -At -c "SELECT id FROM audit_log WHERE at < '2026-06-01' ORDER BY at DESC LIMIT 1")
measure "vendor: audit page after a cursor" \
    "SELECT * FROM audit_log WHERE id > '$audit_cursor' ORDER BY id LIMIT 51"
# src/service/ranking.rs pool_candidates: the best 10 eligible partners of the stored ranking, one statement.
statuses=$(psql -At -c "SELECT string_agg(quote_literal(code), ',') FROM program_statuses WHERE program_id = '$program'")
measure "publishLeadPool: candidates (one statement)" \
    "SELECT partner_id FROM ranking_rows WHERE run_id = md5('bench-run')::uuid AND partner_id IN (SELECT partner_id FROM partner_statuses WHERE program_id = '$program' AND status IN ($statuses)) AND partner_id IN (SELECT subscriber_id FROM partner_profiles WHERE service_desk_connected AND has_consultants AND has_customization_specialists) ORDER BY position LIMIT 10"
# Whether the ledger needs partitioning by quarter (issue 14.6): a partner's reads of the unpartitioned ledger.
measure "big partner: its ledger of 2026 by status" \
    "SELECT status, SUM(amount_minor) FROM commissions WHERE partner_id = '$big' AND accrued_at >= '2026-01-01' AND accrued_at < '2027-01-01' GROUP BY status"
measure "small partner: its ledger of 2026 by status" \
    "SELECT status, SUM(amount_minor) FROM commissions WHERE partner_id = '$small' AND accrued_at >= '2026-01-01' AND accrued_at < '2027-01-01' GROUP BY status"
measure "big partner: ledger page (commissions)" \
    "SELECT * FROM commissions WHERE partner_id = '$big' ORDER BY id LIMIT 51"
echo
psql -At -c "SELECT 'audit_log (all partitions): ' || pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'audit_log'::regclass"
psql -At -c "SELECT 'database: ' || pg_size_pretty(pg_database_size(current_database()))"
psql -c "SELECT relname AS table, pg_size_pretty(pg_total_relation_size(oid)) AS with_indexes, pg_size_pretty(pg_relation_size(oid)) AS heap FROM pg_class WHERE relname IN ('commissions', 'payments', 'subscribers', 'subscriptions', 'ledger_totals', 'ledger_vendor_totals', 'ranking_rows', 'audit_log_y2026m01', 'audit_log_default') ORDER BY pg_total_relation_size(oid) DESC"
