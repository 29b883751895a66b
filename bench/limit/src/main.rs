//! The benchmark's "limit": each workload answered by ONE hand-written SQL statement that
//! builds the whole JSON answer in PostgreSQL, served by a bare actix-web handler on a
//! sqlx pool of the same size as remedy's (REMEDY_DB_MAX_CONNECTIONS, default 10).
//!
//! `POST /graphql` with `{"operationName": W, "variables": {...}}`, W one of
//! progress, overdue, order, measures, update, timeline (the console's order page), and as of
//! a past date (`variables.asOf`, over the history tables) asof_progress, asof_overdue,
//! asof_dashboard. overdue, order and measures with `variables.orders` (order ids) answer as
//! remedy answers a caller limited to those orders (an evaluator): a measure is in scope when
//! it answers a finding of a granted order, an order when granted. The answer has GraphQL's
//! shape (`{"data": ...}`) so the same load generator checks it.
use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// `measure` rows overdue on a day (the rule of api/src/service/measures.rs
/// `overdue_condition`): `overdue_on!("m", "<date expression>")`.
macro_rules! overdue_on {
    ($m:literal, $d:literal) => {
        concat!(
            "((",
            $m,
            ".status IN ('PLANNED','IN_PROGRESS') AND ",
            $m,
            ".due_on IS NOT NULL AND ",
            $m,
            ".due_on < ",
            $d,
            ") OR (",
            $m,
            ".recurrence <> 'NONE' AND ",
            $m,
            ".status NOT IN ('CANCELLED','DEFERRED') AND ",
            $m,
            ".next_due_on IS NOT NULL AND ",
            $m,
            ".next_due_on < ",
            $d,
            "))"
        )
    };
}

/// `measure` rows overdue today.
macro_rules! overdue {
    ($m:literal) => {
        overdue_on!($m, "(now() AT TIME ZONE 'UTC')::date")
    };
}

/// Figures (counts by status, overdue, percentages) as JSON members, from a grouped row `g`.
macro_rules! figures {
    () => {
        "'total', g.total, 'planned', g.planned, 'inProgress', g.in_progress, \
         'implemented', g.implemented, 'verified', g.verified, 'deferred', g.deferred, \
         'cancelled', g.cancelled, 'overdue', g.overdue, \
         'percentImplemented', CASE WHEN g.total - g.cancelled = 0 THEN 0 ELSE round((g.implemented + g.verified) * 1000.0 / (g.total - g.cancelled)) / 10 END, \
         'percentVerified', CASE WHEN g.total - g.cancelled = 0 THEN 0 ELSE round(g.verified * 1000.0 / (g.total - g.cancelled)) / 10 END"
    };
}

/// The measures of `l` in all and by status, as the columns of a rollup (followed by more).
macro_rules! status_counts {
    () => {
        "count(DISTINCT measure_id) AS total, \
         count(DISTINCT measure_id) FILTER (WHERE status = 'PLANNED') AS planned, \
         count(DISTINCT measure_id) FILTER (WHERE status = 'IN_PROGRESS') AS in_progress, \
         count(DISTINCT measure_id) FILTER (WHERE status = 'IMPLEMENTED') AS implemented, \
         count(DISTINCT measure_id) FILTER (WHERE status = 'VERIFIED') AS verified, \
         count(DISTINCT measure_id) FILTER (WHERE status = 'DEFERRED') AS deferred, \
         count(DISTINCT measure_id) FILTER (WHERE status = 'CANCELLED') AS cancelled, "
    };
}

/// The rollup of `l` (measure, order, regulator, category, status, overdue) and the answer:
/// `progress_tail!("<asOf expression>", "<regulator rows>")`.
macro_rules! progress_tail {
    ($asof:literal, $regulator:literal) => {
        concat!(
            "g AS (SELECT GROUPING(regulator_id) AS gr, GROUPING(order_id) AS go, GROUPING(category) AS gc, \
                  regulator_id, order_id, category, ",
            status_counts!(),
            "count(DISTINCT measure_id) FILTER (WHERE overdue) AS overdue \
           FROM l GROUP BY GROUPING SETS ((), (regulator_id), (order_id), (category), (order_id, category))), \
     fc AS (SELECT GROUPING(order_id) AS go, order_id, category, count(*) AS n FROM f \
            GROUP BY GROUPING SETS ((order_id), (category), (order_id, category))) \
     SELECT json_build_object('data', json_build_object('progress', \
       (SELECT json_build_object('asOf', ", $asof, ", ", figures!(), ", \
         'regulators', (SELECT COALESCE(json_agg(json_build_object('regulator', json_build_object('code', r.code), ", figures!(), ") ORDER BY r.code), '[]') \
                        FROM g JOIN ", $regulator, " r ON r.id = g.regulator_id WHERE g.gr = 0), \
         'orders', (SELECT COALESCE(json_agg(json_build_object('order', json_build_object('reference', o.reference), \
                      'findings', (SELECT coalesce(sum(n), 0) FROM fc WHERE fc.order_id = o.id AND fc.category IS NOT NULL), ", figures!(), ", \
                      'categories', (SELECT COALESCE(json_agg(json_build_object('category', g.category, \
                                        'findings', (SELECT n FROM fc WHERE fc.order_id = o.id AND fc.category = g.category), ", figures!(), ") ORDER BY array_position(ARRAY['ORGANIZATIONAL','TECHNICAL','PHYSICAL','HUMAN'], g.category::text)), '[]') \
                                     FROM g WHERE g.order_id = o.id AND g.go = 0 AND g.gc = 0)) ORDER BY o.issued_on, o.id), '[]') \
                    FROM o LEFT JOIN g ON g.order_id = o.id AND g.go = 0 AND g.gc = 1), \
         'categories', (SELECT COALESCE(json_agg(json_build_object('category', g.category, \
                          'findings', (SELECT n FROM fc WHERE fc.go = 1 AND fc.category = g.category), ", figures!(), ") ORDER BY array_position(ARRAY['ORGANIZATIONAL','TECHNICAL','PHYSICAL','HUMAN'], g.category::text)), '[]') \
                        FROM g WHERE g.go = 1 AND g.gr = 1 AND g.gc = 0)) \
        FROM g WHERE g.gr = 1 AND g.go = 1 AND g.gc = 1)))::text"
        )
    };
}

const PROGRESS: &str = concat!(
    "WITH o AS (SELECT id, reference, regulator_id, issued_on FROM regulatory_order WHERE archived_at IS NULL), \
     f AS (SELECT f.id, f.order_id, f.category, o.regulator_id FROM finding f JOIN o ON o.id = f.order_id WHERE f.archived_at IS NULL), \
     m AS (SELECT m.id, m.status, ", overdue!("m"), " AS overdue FROM measure m WHERE m.archived_at IS NULL), \
     l AS (SELECT DISTINCT mf.measure_id, f.order_id, f.regulator_id, f.category, m.status, m.overdue \
           FROM measure_finding mf JOIN f ON f.id = mf.finding_id JOIN m ON m.id = mf.measure_id), ",
    progress_tail!("(now() AT TIME ZONE 'UTC')::date", "regulator")
);

/// The day of a read as of a date (`$1`, text) and the first instant after it.
macro_rules! day {
    () => {
        "(($1::text)::date)"
    };
}
macro_rules! day_end {
    () => {
        "(((($1::text)::date) + 1)::timestamp AT TIME ZONE 'UTC')"
    };
}

/// The versions of a table standing at the end of the day (`$1`): of each row, its latest
/// version valid before the day ends. Latest by `history_id`, which on the benchmark's plan
/// orders each row's versions as `valid_from` does (bench/gen.sql records them in time
/// order; remedy itself orders by valid_from, then history_id, for imported facts recorded
/// after later ones). A join to the grouped maximum: PostgreSQL estimates its rows well,
/// where `DISTINCT ON` and an anti-join ("no later version") gave estimates of one row for
/// the filtered versions and nested loops that ran for seconds to minutes.
macro_rules! standing {
    ($cols:literal, $table:literal) => {
        concat!(
            "SELECT ",
            $cols,
            " FROM ",
            $table,
            "_history h JOIN (SELECT max(history_id) AS hid FROM ",
            $table,
            "_history WHERE valid_from < ",
            day_end!(),
            " GROUP BY id) x ON x.hid = h.history_id"
        )
    };
}

/// The plan as of `$1` over the history tables, the same rules as remedy's
/// (api/src/service/history.rs): `ms` each measure's version standing at the end of the day
/// with its status then (completion and start from the dates of its latest known version,
/// deferral and cancellation from the version standing), `o` the orders issued by then, `f`
/// their findings, `m` the measures with their lateness then, `l` the links of the versions
/// standing (what `progress_tail!` rolls up).
macro_rules! as_of_head {
    () => {
        concat!(
            "WITH ov AS (", standing!("id, reference, regulator_id, issued_on, archived_at", "regulatory_order"), "), \
             rv AS (", standing!("id, code", "regulator"), "), \
             fv AS (", standing!("id, order_id, category, number, archived_at", "finding"), "), \
             mv AS (", standing!("id, history_id, code, owner_id, status, due_on, next_due_on, recurrence, archived_at", "measure"), "), \
             mk AS (SELECT id, status, started_on, completed_on FROM measure_history h \
                    JOIN (SELECT max(history_id) AS hid FROM measure_history GROUP BY id) x ON x.hid = h.history_id), \
             ms AS (SELECT v.id, v.history_id, v.code, v.owner_id, v.due_on, v.next_due_on, v.recurrence, \
                      CASE WHEN k.completed_on IS NOT NULL AND k.completed_on <= ", day!(), " \
                             THEN (CASE WHEN k.status = 'VERIFIED' THEN 'VERIFIED' ELSE 'IMPLEMENTED' END) \
                           WHEN v.status IN ('DEFERRED', 'CANCELLED') THEN v.status \
                           WHEN k.started_on IS NOT NULL AND k.started_on <= ", day!(), " THEN 'IN_PROGRESS' \
                           WHEN k.completed_on IS NULL AND k.started_on IS NULL AND k.status = 'IN_PROGRESS' THEN 'IN_PROGRESS' \
                           ELSE 'PLANNED' END AS status \
                    FROM mv v JOIN mk k ON k.id = v.id WHERE v.archived_at IS NULL), \
             o AS (SELECT id, reference, regulator_id, issued_on FROM ov WHERE archived_at IS NULL AND issued_on <= ", day!(), "), \
             f AS (SELECT f.id, f.order_id, f.category, o.regulator_id FROM fv f JOIN o ON o.id = f.order_id WHERE f.archived_at IS NULL), \
             m AS (SELECT m.id, m.history_id, m.status, ", overdue_on!("m", "(($1::text)::date)"), " AS overdue FROM ms m), \
             l AS (SELECT DISTINCT mf.measure_id, f.order_id, f.regulator_id, f.category, m.status, m.overdue \
                   FROM m JOIN measure_finding_history mf ON mf.measure_history_id = m.history_id \
                   JOIN f ON f.id = mf.finding_id), "
        )
    };
}

/// `progress(asOf: $1)`.
const AS_OF_PROGRESS: &str = concat!(as_of_head!(), progress_tail!("$1::text", "rv"));

/// `overdueMeasures(asOf: $1, first: 100)`: the measures late on the day, earliest due first,
/// with their owner, findings and systems as they then stood and the evidence submitted by
/// then.
const AS_OF_OVERDUE: &str = concat!(
    as_of_head!(),
    "ow AS (", standing!("id, name", "owner"), "), \
     sv AS (", standing!("id, code, archived_at", "system"), "), \
     page AS (SELECT m.id, m.history_id, m.code, m.owner_id, COALESCE(m.due_on, m.next_due_on) AS due FROM ms m \
              WHERE ", overdue_on!("m", "(($1::text)::date)"), " AND m.history_id IN (SELECT mf.measure_history_id \
                FROM measure_finding_history mf JOIN f ON f.id = mf.finding_id) \
              ORDER BY due NULLS LAST, m.code, m.id LIMIT 100), \
     pf AS (SELECT mf.measure_history_id, json_agg(json_build_object('number', f.number) ORDER BY f.order_id, f.number) AS nodes \
            FROM page p JOIN measure_finding_history mf ON mf.measure_history_id = p.history_id \
            JOIN fv f ON f.id = mf.finding_id WHERE f.archived_at IS NULL GROUP BY mf.measure_history_id) \
     SELECT json_build_object('data', json_build_object('overdueMeasures', json_build_object('nodes', \
       COALESCE(json_agg(json_build_object( \
         'code', p.code, \
         'owner', (SELECT json_build_object('name', ow.name) FROM ow WHERE ow.id = p.owner_id), \
         'findings', json_build_object('nodes', COALESCE((SELECT pf.nodes FROM pf WHERE pf.measure_history_id = p.history_id), '[]')), \
         'systems', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('code', s.code) ORDER BY s.code), '[]') \
                       FROM measure_system_history x JOIN sv s ON s.id = x.system_id \
                       WHERE x.measure_history_id = p.history_id AND s.archived_at IS NULL)), \
         'evidenceCount', (SELECT count(*) FROM evidence e WHERE e.measure_id = p.id AND e.submitted_at < ", day_end!(), ") \
       ) ORDER BY p.due NULLS LAST, p.code, p.id), '[]'))))::text FROM page p"
);

/// The README's dashboard with `progress(asOf: $1)` on every order: regulators by code (a
/// page of 20) and the orders of each (today's, oldest first, a page of 20), each with its
/// figures as of the day (null for an order not yet issued then).
const AS_OF_DASHBOARD: &str = concat!(
    as_of_head!(),
    "g AS MATERIALIZED (SELECT order_id, count(DISTINCT measure_id) AS total, \
             count(DISTINCT measure_id) FILTER (WHERE status = 'IN_PROGRESS') AS in_progress, \
             count(DISTINCT measure_id) FILTER (WHERE status = 'IMPLEMENTED') AS implemented, \
             count(DISTINCT measure_id) FILTER (WHERE status = 'VERIFIED') AS verified, \
             count(DISTINCT measure_id) FILTER (WHERE status = 'CANCELLED') AS cancelled, \
             count(DISTINCT measure_id) FILTER (WHERE overdue) AS overdue FROM l GROUP BY order_id) \
     SELECT json_build_object('data', json_build_object('regulators', json_build_object('nodes', \
       (SELECT COALESCE(json_agg(json_build_object('code', r.code, 'nameLocal', r.name_local, \
          'orders', json_build_object('nodes', \
            (SELECT COALESCE(json_agg(json_build_object('reference', o.reference, 'title', o.title, 'status', o.status, \
               'progress', CASE WHEN o.issued_on <= ", day!(), " THEN json_build_object( \
                 'total', COALESCE(g.total, 0), 'implemented', COALESCE(g.implemented, 0), \
                 'verified', COALESCE(g.verified, 0), 'inProgress', COALESCE(g.in_progress, 0), \
                 'overdue', COALESCE(g.overdue, 0), \
                 'percentImplemented', CASE WHEN COALESCE(g.total, 0) - COALESCE(g.cancelled, 0) = 0 THEN 0 \
                   ELSE round((g.implemented + g.verified) * 1000.0 / (g.total - g.cancelled)) / 10 END) END) \
               ORDER BY o.issued_on, o.id), '[]') \
             FROM (SELECT * FROM regulatory_order o WHERE o.regulator_id = r.id AND o.archived_at IS NULL \
                   ORDER BY o.issued_on, o.id LIMIT 20) o LEFT JOIN g ON g.order_id = o.id))) \
          ORDER BY r.code, r.id), '[]') \
        FROM (SELECT * FROM regulator WHERE archived_at IS NULL ORDER BY code, id LIMIT 20) r))))::text"
);

/// The measures answering a finding of the granted orders (`$N`, an `int8[]`): remedy's
/// scope for an order-limited caller (api/src/service/scope.rs).
macro_rules! in_scope {
    ($m:literal, $orders:literal) => {
        concat!(
            $m,
            ".id IN (SELECT mf.measure_id FROM measure_finding mf JOIN finding f ON f.id = mf.finding_id \
             WHERE f.order_id = ANY(",
            $orders,
            "))"
        )
    };
}

/// The overdue page; `$scope` narrows its measures and `$findings` their findings (both empty
/// for an unscoped caller).
macro_rules! overdue_page {
    ($scope:expr, $findings:literal) => {
        concat!(
            "WITH page AS (SELECT m.id, m.code, m.owner_id FROM measure m WHERE m.archived_at IS NULL AND ",
            overdue!("m"),
            $scope,
            " ORDER BY m.code, m.id LIMIT 100) \
             SELECT json_build_object('data', json_build_object('measures', json_build_object('nodes', \
               COALESCE(json_agg(json_build_object( \
                 'code', p.code, \
                 'owner', (SELECT json_build_object('name', ow.name) FROM owner ow WHERE ow.id = p.owner_id), \
                 'findings', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('number', f.number) ORDER BY f.order_id, f.number), '[]') \
                               FROM measure_finding mf JOIN finding f ON f.id = mf.finding_id \
                               WHERE mf.measure_id = p.id AND f.archived_at IS NULL",
            $findings,
            ")), \
                 'systems', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('code', s.code) ORDER BY s.code), '[]') \
                               FROM measure_system ms JOIN system s ON s.id = ms.system_id WHERE ms.measure_id = p.id AND s.archived_at IS NULL)), \
                 'evidenceCount', (SELECT count(*) FROM evidence e WHERE e.measure_id = p.id) \
               ) ORDER BY p.code, p.id), '[]'))))::text FROM page p"
        )
    };
}

const OVERDUE: &str = overdue_page!("", "");

/// `overdue` for a caller limited to the orders `$1`: the measures in scope, and of each only
/// the findings of granted orders (owner, systems and evidence through the visible measure).
const OVERDUE_SCOPED: &str = overdue_page!(
    concat!(" AND ", in_scope!("m", "$1")),
    " AND f.order_id = ANY($1)"
);

/// The order page (`orderByReference` with its findings, their measures and its reports);
/// `$scope` narrows the order (empty for an unscoped caller).
macro_rules! order_page {
    ($scope:literal) => {
        concat!(
            "SELECT json_build_object('data', json_build_object('orderByReference', \
   (SELECT json_build_object('reference', o.reference, 'title', o.title, \
     'findings', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('number', f.number, 'title', f.title, \
        'measures', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('code', m.code, 'status', m.status) ORDER BY m.code, m.id), '[]') \
            FROM (SELECT m.code, m.id, m.status FROM measure_finding mf JOIN measure m ON m.id = mf.measure_id \
                  WHERE mf.finding_id = f.id AND m.archived_at IS NULL ORDER BY m.code, m.id LIMIT 100) m)) \
        ) ORDER BY f.number, f.id), '[]') \
        FROM (SELECT * FROM finding f WHERE f.order_id = o.id AND f.archived_at IS NULL ORDER BY f.number, f.id LIMIT 100) f)), \
     'reports', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('code', r.code, 'status', r.status) ORDER BY r.due_on, r.id), '[]') \
        FROM (SELECT * FROM report r WHERE r.order_id = o.id AND r.archived_at IS NULL ORDER BY r.due_on, r.id LIMIT 100) r))) \
    FROM regulatory_order o WHERE o.reference = $1 AND o.archived_at IS NULL",
            $scope,
            ")))::text"
        )
    };
}

const ORDER: &str = order_page!("");

/// `order` for a caller limited to the orders `$2`: a granted order only (its findings,
/// their measures and its reports are then all in scope).
const ORDER_SCOPED: &str = order_page!(" AND o.id = ANY($2)");

/// The walk: a page of measures by code after the cursor `$1`; `$scope` narrows the
/// measures (empty for an unscoped caller).
macro_rules! measures_page {
    ($scope:expr) => {
        concat!(
            "WITH page AS (SELECT m.id, m.code, m.title, m.status, m.due_on FROM measure m \
             WHERE m.archived_at IS NULL AND m.code > COALESCE($1, '')",
            $scope,
            " ORDER BY m.code, m.id LIMIT 101), \
           shown AS (SELECT * FROM page ORDER BY code, id LIMIT 100) \
           SELECT json_build_object('data', json_build_object('measures', json_build_object( \
             'nodes', (SELECT COALESCE(json_agg(json_build_object('code', code, 'title', title, 'status', status, 'dueOn', due_on) ORDER BY code, id), '[]') FROM shown), \
             'pageInfo', json_build_object('hasNextPage', (SELECT count(*) > 100 FROM page), 'endCursor', (SELECT max(code) FROM shown)))))::text"
        )
    };
}

const MEASURES: &str = measures_page!("");

/// `measures` (the walk) for a caller limited to the orders `$2`.
const MEASURES_SCOPED: &str = measures_page!(concat!(" AND ", in_scope!("m", "$2")));

/// A global ID as remedy encodes it (api/src/id.rs): `<Type>:<id>` in URL-safe base64
/// without padding.
macro_rules! gid {
    ($kind:literal, $id:literal) => {
        concat!(
            "translate(rtrim(encode(convert_to('",
            $kind,
            ":' || ",
            $id,
            ", 'UTF8'), 'base64'), '='), '+/', '-_')"
        )
    };
}

/// A date as remedy's `Date` scalar writes it.
macro_rules! ymd {
    ($d:literal) => {
        concat!("to_char(", $d, ", 'YYYY-MM-DD')")
    };
}

/// An instant as async-graphql writes a `DateTime<Utc>` (chrono's `to_rfc3339`: seconds,
/// then 3 or 6 fraction digits when there are any, `+00:00`).
macro_rules! rfc3339 {
    ($t:literal) => {
        concat!(
            "to_char(",
            $t,
            " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || \
             CASE WHEN extract(microseconds FROM ",
            $t,
            ")::bigint % 1000000 = 0 THEN '' \
                  WHEN extract(microseconds FROM ",
            $t,
            ")::bigint % 1000 = 0 THEN '.' || to_char(",
            $t,
            " AT TIME ZONE 'UTC', 'MS') \
                  ELSE '.' || to_char(",
            $t,
            " AT TIME ZONE 'UTC', 'US') END || '+00:00'"
        )
    };
}

/// The versions of `<table>_history` rows (`$ids`: a query of ids) in remedy's order
/// (valid_from, history_id), each with the due date before it (`prev`), its rank (`k`) and
/// the earliest due date of the versions before it (`low`).
macro_rules! due_versions {
    ($table:literal, $ids:literal) => {
        concat!(
            "SELECT h.id, h.due_on, h.valid_from, h.audit_event_id, \
               lag(h.due_on) OVER w AS prev, row_number() OVER w AS k, \
               min(h.due_on) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS low \
             FROM ",
            $table,
            "_history h WHERE h.id IN (",
            $ids,
            ") \
             WINDOW w AS (PARTITION BY h.id ORDER BY h.valid_from, h.history_id)"
        )
    };
}

/// The summary of a due-date move (api/src/graphql/timeline.rs `moved`), from a row `h` of
/// `due_versions!` and the subject's name: `moved!("<what expression>")`. The reason is the
/// audit event's `after._change.dueChangeReason`, else `.reason`, when a string.
macro_rules! moved {
    ($what:literal) => {
        concat!(
            $what, " || ' due date moved from ' || COALESCE(", ymd!("h.prev"), ", 'none') || ' to ' || \
             COALESCE(", ymd!("h.due_on"), ", 'none') || COALESCE(': ' || (SELECT CASE WHEN jsonb_typeof(r) = 'string' THEN r #>> '{}' END \
               FROM (SELECT CASE WHEN (a.after::jsonb -> '_change') ? 'dueChangeReason' \
                                 THEN a.after::jsonb -> '_change' -> 'dueChangeReason' \
                                 ELSE a.after::jsonb -> '_change' -> 'reason' END AS r \
                     FROM audit_event a WHERE a.id = h.audit_event_id) x), '')"
        )
    };
}

/// The console's order page (api/assets/console/queries.js `OrderPage`) for the order `$1`:
/// the order, its regulator, its progress today (`slipped` included), its findings, the
/// first 100 entries of its timeline with remedy's rules (api/src/graphql/timeline.rs: the
/// order's issue and disclosure; its measures (answering any of its findings) started,
/// completed, changed (audit log), their due-date moves (history), change requests, evidence;
/// its reports due, filed, acknowledged and their due-date moves; evaluations of those
/// reports and measures; ordered by day, kind, summary, node id), and the first 100 owners.
const TIMELINE: &str = concat!(
    "WITH o AS (SELECT * FROM regulatory_order WHERE reference = $1 AND archived_at IS NULL), \
     mo AS (SELECT DISTINCT mf.measure_id AS id FROM measure_finding mf JOIN finding f ON f.id = mf.finding_id \
            WHERE f.order_id = (SELECT id FROM o)), \
     ms AS (SELECT m.* FROM measure m WHERE m.id IN (SELECT id FROM mo)), \
     mh AS (", due_versions!("measure", "SELECT id FROM mo"), "), \
     rs AS (SELECT r.* FROM report r WHERE r.order_id = (SELECT id FROM o)), \
     rh AS (", due_versions!("report", "SELECT id FROM rs"), "), \
     cr AS (SELECT c.*, m.code, CASE c.kind \
              WHEN 'DEFER' THEN 'defer ' || m.code || COALESCE(' until ' || ", ymd!("c.defer_until"), ", '') \
              WHEN 'CANCEL' THEN 'cancel ' || m.code \
              ELSE 'move ' || m.code || '''s due date to ' || COALESCE(", ymd!("c.proposed_due_on"), ", '') END AS asked \
            FROM change_request c JOIN ms m ON m.id = c.measure_id), \
     e (day, at, k, summary, node) AS ( \
       SELECT o.issued_on, NULL::timestamptz, 1, o.reference || ' issued: ' || o.title, ", gid!("Order", "o.id"), " FROM o \
       UNION ALL SELECT o.incident_disclosed_on, NULL, 0, 'the incident behind ' || o.reference || ' was disclosed publicly', ", gid!("Order", "o.id"), " \
         FROM o WHERE o.incident_disclosed_on IS NOT NULL \
       UNION ALL SELECT m.started_on, NULL, 2, m.code || ' started: ' || m.title, ", gid!("Measure", "m.id"), " FROM ms m WHERE m.started_on IS NOT NULL \
       UNION ALL SELECT m.completed_on, NULL, 3, m.code || ' completed: ' || m.title, ", gid!("Measure", "m.id"), " FROM ms m WHERE m.completed_on IS NOT NULL \
       UNION ALL SELECT (h.valid_from AT TIME ZONE 'UTC')::date, h.valid_from, 5, ", moved!("m.code"), ", ", gid!("Measure", "h.id"), " \
         FROM mh h JOIN ms m ON m.id = h.id WHERE h.k > 1 AND h.due_on IS DISTINCT FROM h.prev \
       UNION ALL SELECT (c.requested_at AT TIME ZONE 'UTC')::date, c.requested_at, 11, c.requested_by || ' asked to ' || c.asked || ': ' || c.reason, ", gid!("ChangeRequest", "c.id"), " FROM cr c \
       UNION ALL SELECT (c.decided_at AT TIME ZONE 'UTC')::date, c.decided_at, 12, \
           c.decided_by || ' ' || CASE WHEN c.status = 'REJECTED' THEN 'rejected' ELSE 'approved' END || ' the request to ' || c.asked || ': ' || COALESCE(c.decision_comment, ''), \
           ", gid!("ChangeRequest", "c.id"), " FROM cr c WHERE c.decided_at IS NOT NULL AND c.decided_by IS NOT NULL \
       UNION ALL SELECT (c.expired_at AT TIME ZONE 'UTC')::date, c.expired_at, 13, \
           c.code || '''s deferral ended (' || COALESCE(", ymd!("c.defer_until"), ", '') || '); back to ' || COALESCE(c.previous_status, ''), \
           ", gid!("ChangeRequest", "c.id"), " FROM cr c WHERE c.expired_at IS NOT NULL \
       UNION ALL SELECT (a.at AT TIME ZONE 'UTC')::date, a.at, 4, m.code || ' ' || a.action || ' by ' || a.actor, ", gid!("Measure", "m.id"), " \
         FROM audit_event a JOIN ms m ON a.entity_id = m.id::text WHERE a.entity = 'Measure' AND a.action <> 'create' \
       UNION ALL SELECT COALESCE(v.issued_on, (v.submitted_at AT TIME ZONE 'UTC')::date), NULL, 6, 'evidence: ' || v.title, ", gid!("Evidence", "v.id"), " \
         FROM evidence v WHERE v.measure_id IN (SELECT id FROM mo) \
       UNION ALL SELECT r.due_on, NULL, 7, 'report due: ' || r.title, ", gid!("Report", "r.id"), " FROM rs r \
       UNION ALL SELECT r.submitted_on, NULL, 8, 'report filed: ' || r.title, ", gid!("Report", "r.id"), " FROM rs r WHERE r.submitted_on IS NOT NULL \
       UNION ALL SELECT r.acknowledged_on, NULL, 9, 'report acknowledged: ' || r.title, ", gid!("Report", "r.id"), " FROM rs r WHERE r.acknowledged_on IS NOT NULL \
       UNION ALL SELECT (h.valid_from AT TIME ZONE 'UTC')::date, h.valid_from, 5, ", moved!("'report ' || r.code"), ", ", gid!("Report", "h.id"), " \
         FROM rh h JOIN rs r ON r.id = h.id WHERE h.k > 1 AND h.due_on IS DISTINCT FROM h.prev \
       UNION ALL SELECT (v.evaluated_at AT TIME ZONE 'UTC')::date, v.evaluated_at, 10, 'evaluation by ' || v.evaluator_subject || ': ' || v.verdict, ", gid!("Evaluation", "v.id"), " \
         FROM evaluation v WHERE v.report_id IN (SELECT id FROM rs) OR v.measure_id IN (SELECT id FROM mo)), \
     t AS (SELECT * FROM e ORDER BY day, k, summary COLLATE \"C\", node COLLATE \"C\" LIMIT 100), \
     l AS (SELECT mf.measure_id, m.status, ", overdue!("m"), " AS late, \
             EXISTS (SELECT 1 FROM mh h WHERE h.id = m.id AND h.due_on > h.low) AS slipped \
           FROM measure_finding mf JOIN finding f ON f.id = mf.finding_id JOIN measure m ON m.id = mf.measure_id \
           WHERE f.order_id = (SELECT id FROM o) AND f.archived_at IS NULL AND m.archived_at IS NULL), \
     g AS (SELECT ", status_counts!(), "count(DISTINCT measure_id) FILTER (WHERE late) AS overdue, \
             count(DISTINCT measure_id) FILTER (WHERE slipped) AS slipped FROM l) \
     SELECT json_build_object('data', json_build_object( \
       'orderByReference', (SELECT json_build_object('id', ", gid!("Order", "o.id"), ", 'reference', o.reference, 'kind', o.kind, \
          'title', o.title, 'titleLocal', o.title_local, 'legalBasis', o.legal_basis, 'issuedOn', ", ymd!("o.issued_on"), ", \
          'incidentDisclosedOn', ", ymd!("o.incident_disclosed_on"), ", 'status', o.status, 'summary', o.summary, \
          'regulator', (SELECT json_build_object('id', ", gid!("Regulator", "r.id"), ", 'code', r.code, 'name', r.name, 'nameLocal', r.name_local) \
                        FROM regulator r WHERE r.id = o.regulator_id), \
          'progress', (SELECT json_build_object('findings', (SELECT count(*) FROM finding f WHERE f.order_id = o.id AND f.archived_at IS NULL), ", figures!(), ", 'slipped', g.slipped) \
                       FROM g WHERE o.issued_on <= (now() AT TIME ZONE 'UTC')::date), \
          'findings', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('id', ", gid!("Finding", "f.id"), ", 'number', f.number, \
              'category', f.category, 'title', f.title, 'facts', f.facts, 'factsEn', f.facts_en, 'directive', f.directive, \
              'directiveEn', f.directive_en) ORDER BY f.number, f.id), '[]') \
            FROM (SELECT * FROM finding f WHERE f.order_id = o.id AND f.archived_at IS NULL ORDER BY f.number, f.id LIMIT 100) f)), \
          'timeline', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('on', ", ymd!("t.day"), ", \
              'at', ", rfc3339!("t.at"), ", \
              'kind', (ARRAY['INCIDENT_DISCLOSED','ORDER_ISSUED','MEASURE_STARTED','MEASURE_COMPLETED','MEASURE_CHANGED', \
                             'DUE_DATE_MOVED','EVIDENCE_ADDED','REPORT_DUE','REPORT_SUBMITTED','REPORT_ACKNOWLEDGED', \
                             'EVALUATION','CHANGE_REQUESTED','CHANGE_DECIDED','DEFERRAL_ENDED'])[t.k + 1], \
              'summary', t.summary, 'nodeId', t.node) ORDER BY t.day, t.k, t.summary COLLATE \"C\", t.node COLLATE \"C\"), '[]') FROM t))) \
        FROM o), \
       'owners', json_build_object('nodes', (SELECT COALESCE(json_agg(json_build_object('id', ", gid!("Owner", "w.id"), ", 'code', w.code, \
          'name', w.name, 'nameLocal', w.name_local) ORDER BY w.code, w.id), '[]') \
        FROM (SELECT * FROM owner WHERE archived_at IS NULL ORDER BY code, id LIMIT 100) w))))::text"
);

const UPDATE: &str = "UPDATE measure SET plan = $3, version = version + 1, updated_at = now() \
   WHERE id = $1 AND version = $2 AND archived_at IS NULL \
   RETURNING json_build_object('data', json_build_object('updateMeasure', json_build_object('version', version)))::text";

fn var<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
    body.get("variables")
        .and_then(|v| v.get(name))
        .filter(|v| !v.is_null())
}

fn error(message: String) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "errors": [{ "message": message }] }))
}

async fn answer(pool: &PgPool, body: &Value) -> Result<Option<String>, String> {
    let op = body
        .get("operationName")
        .and_then(Value::as_str)
        .unwrap_or("");
    // A caller limited to orders: their ids.
    let scope: Option<Vec<i64>> = match var(body, "orders") {
        None => None,
        Some(v) => Some(
            v.as_array()
                .and_then(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
                .ok_or("variables.orders: a list of order ids")?,
        ),
    };
    let r = match op {
        "progress" => sqlx::query_scalar(PROGRESS).fetch_optional(pool).await,
        "asof_progress" | "asof_overdue" | "asof_dashboard" => {
            let sql = match op {
                "asof_progress" => AS_OF_PROGRESS,
                "asof_overdue" => AS_OF_OVERDUE,
                _ => AS_OF_DASHBOARD,
            };
            let day = var(body, "asOf")
                .and_then(Value::as_str)
                .ok_or("variables.asOf")?;
            sqlx::query_scalar(sql).bind(day).fetch_optional(pool).await
        }
        "overdue" => match &scope {
            None => sqlx::query_scalar(OVERDUE).fetch_optional(pool).await,
            Some(orders) => {
                sqlx::query_scalar(OVERDUE_SCOPED)
                    .bind(orders)
                    .fetch_optional(pool)
                    .await
            }
        },
        "order" => {
            let reference = var(body, "reference").and_then(Value::as_str).unwrap_or("");
            match &scope {
                None => {
                    sqlx::query_scalar(ORDER)
                        .bind(reference)
                        .fetch_optional(pool)
                        .await
                }
                Some(orders) => {
                    sqlx::query_scalar(ORDER_SCOPED)
                        .bind(reference)
                        .bind(orders)
                        .fetch_optional(pool)
                        .await
                }
            }
        }
        "timeline" => {
            let reference = var(body, "reference").and_then(Value::as_str).unwrap_or("");
            sqlx::query_scalar(TIMELINE)
                .bind(reference)
                .fetch_optional(pool)
                .await
        }
        "measures" => {
            let after = var(body, "after")
                .and_then(Value::as_str)
                .map(str::to_owned);
            match &scope {
                None => {
                    sqlx::query_scalar(MEASURES)
                        .bind(after)
                        .fetch_optional(pool)
                        .await
                }
                Some(orders) => {
                    sqlx::query_scalar(MEASURES_SCOPED)
                        .bind(after)
                        .bind(orders)
                        .fetch_optional(pool)
                        .await
                }
            }
        }
        "update" => {
            let id = var(body, "id")
                .and_then(|v| {
                    v.as_str()
                        .and_then(|s| s.parse::<i64>().ok())
                        .or(v.as_i64())
                })
                .ok_or("variables.id")?;
            let version = var(body, "version")
                .and_then(Value::as_i64)
                .ok_or("variables.version")?;
            let plan = format!("bench update of measure {id} at version {version}");
            sqlx::query_scalar(UPDATE)
                .bind(id)
                .bind(version as i32)
                .bind(plan)
                .fetch_optional(pool)
                .await
        }
        other => return Err(format!("unknown operation {other:?}")),
    };
    r.map_err(|e| e.to_string())
}

async fn graphql(pool: web::Data<PgPool>, body: web::Json<Value>) -> HttpResponse {
    match answer(&pool, &body).await {
        Ok(Some(json)) => HttpResponse::Ok()
            .content_type("application/json")
            .body(json),
        Ok(None) => error("not found or version conflict".into()),
        Err(e) => error(e),
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    if let Ok(name) = std::env::var("LIMIT_PRINT_SQL") {
        // For EXPLAIN by hand: the statement of one operation.
        let sql = match name.as_str() {
            "asof_progress" => AS_OF_PROGRESS,
            "asof_overdue" => AS_OF_OVERDUE,
            "asof_dashboard" => AS_OF_DASHBOARD,
            "progress" => PROGRESS,
            "timeline" => TIMELINE,
            "overdue_scoped" => OVERDUE_SCOPED,
            "order_scoped" => ORDER_SCOPED,
            "measures_scoped" => MEASURES_SCOPED,
            "order" => ORDER,
            "measures" => MEASURES,
            _ => OVERDUE,
        };
        println!("{sql}");
        return Ok(());
    }
    let url = std::env::var("LIMIT_DATABASE_URL")?;
    let listen = std::env::var("LIMIT_LISTEN").unwrap_or_else(|_| "127.0.0.1:8091".into());
    let max: u32 = std::env::var("REMEDY_DB_MAX_CONNECTIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .connect(&url)
        .await?;
    let data = web::Data::new(pool);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::JsonConfig::default().limit(1024 * 1024))
            .route("/graphql", web::post().to(graphql))
    })
    .bind(listen)?
    .run()
    .await?;
    Ok(())
}
