-- Deterministic benchmark plan for remedy (PostgreSQL), run by bench/run.sh after
-- `remedy migrate up` on an empty database. No random(): every value is a function of the
-- row number, so two runs at the same scale produce the same plan.
-- psql variables: regs orders findings measures evidence owners reports systems.
-- tests/api/history_scale.rs runs this file through a connection (not psql): it drops the
-- `\set` line and writes the numbers in place of the `:name` variables, so keep every
-- variable a plain `:name` outside quoted text and every psql meta-command on its own line.
\set ON_ERROR_STOP on
BEGIN;

INSERT INTO regulator (id, code, name, name_local, kind, version, created_at, updated_at)
SELECT i, 'REG-' || lpad(i::text, 3, '0'), 'Regulator ' || i, '規制当局 ' || i,
       (ARRAY['MINISTRY','PRIVACY_AUTHORITY','FINANCIAL_AUTHORITY','CARD_BRAND','OTHER'])[1 + i % 5],
       1, timestamptz '2022-01-01 00:00:00+00', timestamptz '2022-01-01 00:00:00+00'
FROM generate_series(1, :regs) AS i;

INSERT INTO regulatory_order (id, regulator_id, kind, reference, title, title_local, legal_basis,
                              issued_on, status, summary, version, created_at, updated_at)
SELECT i, 1 + (i - 1) % :regs,
       (ARRAY['IMPROVEMENT_ORDER','GUIDANCE','REPORT_REQUEST','RECOMMENDATION','OTHER'])[1 + i % 5],
       'BENCH-ORD-' || lpad(i::text, 5, '0'), 'Order ' || i, '命令 ' || i, 'Act art. ' || (i % 40),
       date '2022-01-01' + i, (ARRAY['OPEN','MONITORING','CLOSED'])[1 + i % 3], 'Summary of order ' || i,
       1, timestamptz '2022-01-01 00:00:00+00', timestamptz '2022-01-01 00:00:00+00'
FROM generate_series(1, :orders) AS i;

INSERT INTO finding (id, order_id, category, number, title, facts, facts_en, directive, directive_en,
                     version, created_at, updated_at)
SELECT i, 1 + (i - 1) % :orders,
       (ARRAY['ORGANIZATIONAL','TECHNICAL','PHYSICAL','HUMAN'])[1 + i % 4],
       'F-' || lpad(i::text, 6, '0'), 'Finding ' || i, '事実 ' || i, 'Facts of finding ' || i,
       '指示 ' || i, 'Directive of finding ' || i,
       1, timestamptz '2022-01-01 00:00:00+00', timestamptz '2022-01-01 00:00:00+00'
FROM generate_series(1, :findings) AS i;

INSERT INTO owner (id, code, name, name_local, kind, role_title, contact, version, created_at, updated_at)
SELECT i, 'OWN-' || lpad(i::text, 5, '0'), 'Owner ' || i, '担当 ' || i,
       (ARRAY['PERSON','DEPARTMENT','VENDOR'])[1 + i % 3], 'Role ' || (i % 7), 'owner' || i || '@example.com',
       1, timestamptz '2022-01-01 00:00:00+00', timestamptz '2022-01-01 00:00:00+00'
FROM generate_series(1, :owners) AS i;

INSERT INTO system (id, code, name, name_local, kind, scope_note, holds_card_data, version, created_at, updated_at)
SELECT i, 'SYS-' || lpad(i::text, 4, '0'), 'System ' || i, 'システム ' || i,
       (ARRAY['PAYMENT','FRONT','ADMIN_SCREEN','INTERNAL'])[1 + i % 4], 'Scope ' || i, i % 4 = 0,
       1, timestamptz '2022-01-01 00:00:00+00', timestamptz '2022-01-01 00:00:00+00'
FROM generate_series(1, :systems) AS i;

-- Status by i % 10: 3 planned, 2 in progress, 2 implemented, 1 verified, 1 deferred, 1 cancelled.
-- Due dates spread over 2025-06..2028-03, so part of the open measures is overdue today;
-- every 20th measure recurs monthly (anchored a month before its next due date: the
-- dashboard counts its periods come due from the anchor). Start dates spread over
-- 2023-01..2025-06, completion dates 30..480 days later (2023-02..2026-10), so a read as of a past date finds measures
-- not yet started or completed then.
--
-- The past (written to the history tables below): every fourth measure (i % 4 = 1) had an
-- earlier due date, 30..229 days before its current one, moved at an instant of
-- 2024-01..2026-06; a completion (IMPLEMENTED, VERIFIED) was recorded at 09:00 UTC on its
-- completion date, or 20 days late for every fifth measure; a deferral or cancellation at an
-- instant of 2024-03..2026-08. Before its closing event a measure was IN_PROGRESS.
-- `updated_at` is the measure's last event; `version` stays 1 on every version (the mix
-- workload's clients start from version 1).
CREATE TEMP TABLE gen_measure ON COMMIT DROP AS
SELECT i AS id, 'M-' || lpad(i::text, 7, '0') AS code, 'Measure ' || i AS title, '対策 ' || i AS title_local,
       'Plan of measure ' || i AS plan, s.status,
       CASE WHEN s.status IN ('DEFERRED','CANCELLED') THEN 'Reason ' || i END AS status_reason,
       1 + (i - 1) % :owners AS owner_id,
       st.started_on,
       date '2025-06-01' + (i * 37) % 1000 AS due_on,
       CASE WHEN s.status IN ('IMPLEMENTED','VERIFIED') THEN st.started_on + 30 + (i * 7) % 451 END AS completed_on,
       CASE WHEN i % 20 = 0 THEN 'MONTHLY' ELSE 'NONE' END AS recurrence,
       CASE WHEN i % 20 = 0 THEN date '2025-09-01' + (i * 13) % 600 END AS next_due_on,
       CASE WHEN i % 20 = 0 THEN date '2025-08-01' + (i * 13) % 600 END AS anchor_on,
       CASE WHEN i % 4 = 1 THEN date '2025-06-01' + (i * 37) % 1000 - (30 + i % 200) END AS early_due,
       CASE WHEN i % 4 = 1 THEN timestamptz '2024-01-01 10:00:00+00' + ((i * 17) % 900) * interval '1 day' END AS moved_at,
       CASE WHEN s.status IN ('IMPLEMENTED','VERIFIED')
              THEN ((st.started_on + 30 + (i * 7) % 451) + time '09:00') AT TIME ZONE 'UTC'
                   + CASE WHEN i % 5 = 0 THEN interval '20 days' ELSE interval '0' END
            WHEN s.status IN ('DEFERRED','CANCELLED')
              THEN timestamptz '2024-03-01 14:00:00+00' + ((i * 11) % 900) * interval '1 day' END AS closed_at,
       timestamptz '2023-01-01 00:00:00+00' AS created_at
FROM generate_series(1, :measures) AS i,
     LATERAL (SELECT (ARRAY['PLANNED','PLANNED','PLANNED','IN_PROGRESS','IN_PROGRESS','IMPLEMENTED',
                            'IMPLEMENTED','VERIFIED','DEFERRED','CANCELLED'])[1 + (i + i / 20) % 10] AS status) s,
     LATERAL (SELECT CASE WHEN s.status <> 'PLANNED' THEN date '2023-01-01' + (i * 13) % 900 END AS started_on) st;

INSERT INTO measure (id, code, title, title_local, plan, status, status_reason, owner_id, started_on,
                     due_on, completed_on, recurrence, next_due_on, anchor_on, note, version, created_at,
                     updated_at)
SELECT id, code, title, title_local, plan, status, status_reason, owner_id, started_on, due_on, completed_on,
       recurrence, next_due_on, anchor_on, NULL, 1, created_at,
       GREATEST(created_at, COALESCE(moved_at, created_at), COALESCE(closed_at, created_at))
FROM gen_measure ORDER BY id;

-- Every measure answers one finding; every third answers a second one (of another order).
INSERT INTO measure_finding (measure_id, finding_id, created_at)
SELECT i, 1 + (i - 1) % :findings, timestamptz '2023-01-01 00:00:00+00'
FROM generate_series(1, :measures) AS i
UNION
SELECT i, 1 + (i * 7 + 3) % :findings, timestamptz '2023-01-01 00:00:00+00'
FROM generate_series(3, :measures, 3) AS i;

INSERT INTO measure_system (measure_id, system_id, created_at)
SELECT i, 1 + (i - 1) % :systems, timestamptz '2023-01-01 00:00:00+00'
FROM generate_series(1, :measures) AS i
UNION
SELECT i, 1 + (i * 5 + 1) % :systems, timestamptz '2023-01-01 00:00:00+00'
FROM generate_series(2, :measures, 2) AS i;

INSERT INTO evidence (id, measure_id, system_id, kind, title, issued_by, issued_on, valid_from, valid_until,
                      sha256, media_type, size_bytes, storage_uri, submitted_by, submitted_at, created_at)
SELECT i, 1 + (i - 1) % :measures, CASE WHEN i % 2 = 0 THEN 1 + (i - 1) % :systems END,
       (ARRAY['ATTESTATION','CERTIFICATE','SCAN_REPORT','PENTEST_REPORT','MINUTES','CONTRACT','POLICY','REPORT','OTHER'])[1 + i % 9],
       'Evidence ' || i, 'Issuer ' || (i % 50), date '2023-06-01' + i % 500,
       date '2023-06-01' + i % 500, date '2023-06-01' + i % 500 + 365 + i % 400,
       encode(sha256(convert_to('remedy-bench-evidence-' || i, 'UTF8')), 'hex'),
       'application/pdf', 1024 + i % 100000, 'bench://evidence/' || i,
       'bench', timestamptz '2024-01-01 00:00:00+00', timestamptz '2024-01-01 00:00:00+00'
FROM generate_series(1, :evidence) AS i;

INSERT INTO report (id, code, order_id, kind, title, title_local, due_on, submitted_on, acknowledged_on,
                    status, body, version, created_at, updated_at)
SELECT i, 'RPT-' || lpad(i::text, 5, '0'), 1 + (i - 1) % :orders,
       (ARRAY['INITIAL','ADDITIONAL','PROGRESS','FINAL'])[1 + i % 4], 'Report ' || i, '報告 ' || i,
       date '2023-01-01' + (i * 11) % 1400,
       CASE WHEN i % 3 > 0 THEN date '2023-01-01' + (i * 11) % 1400 END,
       CASE WHEN i % 3 = 2 THEN date '2023-01-01' + (i * 11) % 1400 + 20 END,
       (ARRAY['DRAFT','SUBMITTED','ACKNOWLEDGED'])[1 + i % 3], 'Body of report ' || i,
       1, timestamptz '2023-01-01 00:00:00+00', timestamptz '2023-01-01 00:00:00+00'
FROM generate_series(1, :reports) AS i;

-- Each report covers the measures answering the first finding of its order (at most 20).
INSERT INTO report_measure (report_id, measure_id, created_at)
SELECT r.id, mf.measure_id, timestamptz '2023-01-01 00:00:00+00'
FROM report r
CROSS JOIN LATERAL (SELECT mf.measure_id FROM measure_finding mf
                    WHERE mf.finding_id = (SELECT min(f.id) FROM finding f WHERE f.order_id = r.order_id)
                    ORDER BY mf.measure_id LIMIT 20) mf;

-- The history (migration m20261201_000001_history's tables), as if every row had been
-- recorded live: one version per row of every versioned table, valid from and recorded at its
-- `updated_at` (recorded_by 'bench:gen.sql', no audit event); measures get one version per
-- event of their past (creation, due-date move, closing; see above), each the row as it stood
-- from that instant; the links of a measure or report are copied beside each of its versions.
DO $$
DECLARE t text; cols text;
BEGIN
  FOREACH t IN ARRAY ARRAY['regulator','regulatory_order','finding','owner','system','report'] LOOP
    SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) INTO cols
    FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = t;
    EXECUTE format('INSERT INTO %I (%s, recorded_at, recorded_by, valid_from, source, audit_event_id) '
                   'SELECT %s, updated_at, %L, updated_at, NULL, NULL FROM %I ORDER BY id',
                   t || '_history', cols, cols, 'bench:gen.sql', t);
  END LOOP;
END $$;

INSERT INTO measure_history (id, code, title, title_local, plan, status, status_reason, owner_id, started_on,
                             due_on, completed_on, recurrence, next_due_on, anchor_on, note, version,
                             archived_at, created_at, updated_at, recorded_at, recorded_by, valid_from, source,
                             audit_event_id)
SELECT g.id, g.code, g.title, g.title_local, g.plan,
       CASE WHEN g.closed_at IS NULL OR e.at >= g.closed_at THEN g.status ELSE 'IN_PROGRESS' END,
       CASE WHEN g.closed_at IS NULL OR e.at >= g.closed_at THEN g.status_reason END,
       g.owner_id, g.started_on,
       CASE WHEN g.moved_at IS NOT NULL AND e.at < g.moved_at THEN g.early_due ELSE g.due_on END,
       CASE WHEN g.closed_at IS NULL OR e.at >= g.closed_at THEN g.completed_on END,
       g.recurrence, g.next_due_on, g.anchor_on, NULL, 1, NULL, g.created_at, e.at,
       e.at, 'bench:gen.sql', e.at, NULL, NULL
FROM gen_measure g
CROSS JOIN LATERAL (SELECT g.created_at AS at
                    UNION ALL SELECT g.moved_at WHERE g.moved_at IS NOT NULL
                    UNION ALL SELECT g.closed_at WHERE g.closed_at IS NOT NULL) e
ORDER BY e.at, g.id;

INSERT INTO measure_finding_history (measure_history_id, measure_id, finding_id, created_at)
SELECT h.history_id, l.measure_id, l.finding_id, l.created_at
FROM measure_history h JOIN measure_finding l ON l.measure_id = h.id;

INSERT INTO measure_system_history (measure_history_id, measure_id, system_id, created_at)
SELECT h.history_id, l.measure_id, l.system_id, l.created_at
FROM measure_history h JOIN measure_system l ON l.measure_id = h.id;

INSERT INTO report_measure_history (report_history_id, report_id, measure_id, created_at)
SELECT h.history_id, l.report_id, l.measure_id, l.created_at
FROM report_history h JOIN report_measure l ON l.report_id = h.id;

-- Later inserts (tokens, audit events, new rows) continue after the generated ids.
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['regulator','regulatory_order','finding','owner','system','measure','evidence','report'] LOOP
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''), (SELECT coalesce(max(id), 0) + 1 FROM %I), false)', t, t);
  END LOOP;
END $$;

COMMIT;
ANALYZE;
