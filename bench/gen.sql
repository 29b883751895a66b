-- Deterministic benchmark plan for remedy (PostgreSQL), run by bench/run.sh after
-- `remedy migrate up` on an empty database. No random(): every value is a function of the
-- row number, so two runs at the same scale produce the same plan.
-- psql variables: regs orders findings measures evidence owners reports systems.
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
-- dashboard counts its periods come due from the anchor).
INSERT INTO measure (id, code, title, title_local, plan, status, status_reason, owner_id, started_on,
                     due_on, completed_on, recurrence, next_due_on, anchor_on, note, version,
                     created_at, updated_at)
SELECT i, 'M-' || lpad(i::text, 7, '0'), 'Measure ' || i, '対策 ' || i, 'Plan of measure ' || i, s.status,
       CASE WHEN s.status IN ('DEFERRED','CANCELLED') THEN 'Reason ' || i END,
       1 + (i - 1) % :owners,
       CASE WHEN s.status <> 'PLANNED' THEN date '2023-01-01' + i % 365 END,
       date '2025-06-01' + (i * 37) % 1000,
       CASE WHEN s.status IN ('IMPLEMENTED','VERIFIED') THEN date '2023-01-01' + i % 365 + 30 END,
       CASE WHEN i % 20 = 0 THEN 'MONTHLY' ELSE 'NONE' END,
       CASE WHEN i % 20 = 0 THEN date '2025-09-01' + (i * 13) % 600 END,
       CASE WHEN i % 20 = 0 THEN date '2025-08-01' + (i * 13) % 600 END,
       NULL, 1, timestamptz '2023-01-01 00:00:00+00', timestamptz '2023-01-01 00:00:00+00'
FROM generate_series(1, :measures) AS i,
     LATERAL (SELECT (ARRAY['PLANNED','PLANNED','PLANNED','IN_PROGRESS','IN_PROGRESS','IMPLEMENTED',
                            'IMPLEMENTED','VERIFIED','DEFERRED','CANCELLED'])[1 + (i + i / 20) % 10] AS status) s;

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
