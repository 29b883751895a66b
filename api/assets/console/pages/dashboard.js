// Dashboard: per regulator and order, progress by status, overdue and slipped counts,
// upcoming report deadlines, expiring evidence, overdue measures, all as of a chosen date;
// a burn-up chart and a timeline of due dates for the selected order.
import { useEffect, useState } from '../vendor/hooks.js';
import {
  html, Link, useQuery, useLive, navigate, Loading, ErrorBox, Empty, ProgressBar, StatusBadge, Bilingual,
  DateText, DaysToDeadline, PageTitle, measurePath, reportPath, orderPath,
} from '../ui.js';
import { t, bilingual } from '../i18n.js';
import { query } from '../api.js';
import { DASHBOARD, ORDER_PROGRESS_AT, ORDER_GANTT, MEASURE_CHANGED, REPORT_CHANGED } from '../queries.js';
import { BurnUp, Gantt } from '../charts.js';

const todayIso = () => new Date().toISOString().slice(0, 10);

/**
 * Dates from `from` to `to`: month ends between them, and both ends; at most 13 points.
 * @param {string} from
 * @param {string} to
 */
export function samples(from, to) {
  if (from > to) return [to];
  const out = [from];
  const d = new Date(`${from}T00:00:00Z`);
  for (;;) {
    d.setUTCMonth(d.getUTCMonth() + 1, 1);
    const end = new Date(d.getTime() - 86_400_000).toISOString().slice(0, 10);
    if (end >= to) break;
    if (end > from) out.push(end);
  }
  out.push(to);
  if (out.length <= 13) return out;
  const step = (out.length - 1) / 12;
  return Array.from({ length: 13 }, (_, i) => out[Math.round(i * step)]);
}

/** @param {{ params: URLSearchParams }} props */
export function Dashboard({ params }) {
  const asOf = params.get('asOf') || '';
  const { data, error, loading, reload } = useQuery(DASHBOARD, { asOf: asOf || null });
  useLive(MEASURE_CHANGED, {}, reload);
  useLive(REPORT_CHANGED, {}, reload);

  /** @param {string} key @param {string} value */
  const setParam = (key, value) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    const qs = next.toString();
    navigate(qs ? `/?${qs}` : '/', { replace: true });
  };

  const p = data?.progress;
  const orders = p?.orders ?? [];
  const selected = orders.find((o) => o.order.reference === params.get('order')) ?? orders[0];

  return html`<section class="page dashboard" aria-busy=${loading ? 'true' : 'false'}>
    <header class="page-head">
      <${PageTitle}>${t('dashboard.title')}</${PageTitle}>
      <form class="as-of" onSubmit=${(/** @type {Event} */ e) => e.preventDefault()}>
        <label for="as-of">${t('dashboard.asOf')}</label>
        <input id="as-of" type="date" value=${asOf} max=${todayIso()}
          onChange=${(/** @type {any} */ e) => setParam('asOf', e.currentTarget.value)} />
        ${asOf ? html`<button type="button" onClick=${() => setParam('asOf', '')}>${t('dashboard.today')}</button>` : null}
      </form>
    </header>
    ${error ? html`<${ErrorBox} error=${error} retry=${reload} />` : null}
    ${!data && loading ? html`<${Loading} />` : null}
    ${p
      ? html`
      <section aria-labelledby="overall">
        <h2 id="overall">${t('dashboard.overall')} · <${DateText} iso=${p.asOf} /></h2>
        <${ProgressBar} figures=${p} label=${t('dashboard.overall')} />
      </section>
      <section aria-labelledby="by-regulator">
        <h2 id="by-regulator">${t('dashboard.byRegulator')}</h2>
        ${p.regulators.length === 0 ? html`<${Empty} />` : null}
        ${p.regulators.map(
          (/** @type {any} */ r) => html`<article class="regulator" key=${r.regulator.id}>
            <h3><${Bilingual} title=${r.regulator.name} local=${r.regulator.nameLocal} /> <span class="code">${r.regulator.code}</span></h3>
            <${ProgressBar} figures=${r} label=${r.regulator.code} />
            <ul class="orders">
              ${orders
                .filter((/** @type {any} */ o) => o.order.regulator.id === r.regulator.id)
                .map(
                  (/** @type {any} */ o) => html`<li key=${o.order.id} class=${o === selected ? 'selected' : ''}>
                    <h4><${Link} href=${orderPath(o.order.reference)}>${o.order.reference}</${Link}>
                      <span class="title">${bilingual(o.order.title, o.order.titleLocal)[0]}</span></h4>
                    <${ProgressBar} figures=${o} label=${o.order.reference} />
                  </li>`,
                )}
            </ul>
          </article>`,
        )}
      </section>
      ${selected ? html`<${OrderCharts} order=${selected.order} asOf=${p.asOf} orders=${orders} onSelect=${(/** @type {string} */ ref) => setParam('order', ref)} />` : null}
      <div class="columns">
        <section aria-labelledby="upcoming">
          <h2 id="upcoming">${t('dashboard.upcoming')}</h2>
          ${data.upcomingReports.nodes.length === 0 ? html`<${Empty} />` : null}
          <ul class="list">
            ${data.upcomingReports.nodes.map(
              (/** @type {any} */ r) => html`<li key=${r.id}>
                <${Link} href=${reportPath(r.id)}>${r.code}</${Link}> ${bilingual(r.title, r.titleLocal)[0]}
                <span class="meta"><${DateText} iso=${r.dueOn} /> · <${DaysToDeadline} days=${r.daysToDeadline} /></span>
              </li>`,
            )}
          </ul>
        </section>
        <section aria-labelledby="expiring">
          <h2 id="expiring">${t('dashboard.expiring')}</h2>
          ${data.expiringEvidence.nodes.length === 0 ? html`<${Empty} />` : null}
          <ul class="list">
            ${data.expiringEvidence.nodes.map(
              (/** @type {any} */ e) => html`<li key=${e.id}>
                <${Link} href=${measurePath(e.measure.id)}>${e.measure.code}</${Link}> ${e.title}
                <span class="meta"><${DateText} iso=${e.validUntil} /></span>
              </li>`,
            )}
          </ul>
        </section>
      </div>
      <section aria-labelledby="overdue">
        <h2 id="overdue">${t('dashboard.overdueList')} (${data.overdueMeasures.totalCount})</h2>
        ${data.overdueMeasures.nodes.length === 0 ? html`<${Empty} />` : null}
        <${MeasureTable} measures=${data.overdueMeasures.nodes} />
      </section>`
      : null}
  </section>`;
}

/** @param {{ measures: any[] }} props */
export function MeasureTable({ measures }) {
  if (measures.length === 0) return null;
  return html`<div class="table-wrap"><table class="measures">
    <thead><tr>
      <th scope="col">${t('table.code')}</th><th scope="col">${t('table.title')}</th>
      <th scope="col">${t('measure.status')}</th><th scope="col">${t('measure.owner')}</th><th scope="col">${t('measure.due')}</th>
    </tr></thead>
    <tbody>${measures.map(
      (m) => html`<tr key=${m.id} class=${m.overdue ? 'overdue' : ''}>
        <td><${Link} href=${measurePath(m.id)}>${m.code}</${Link}></td>
        <td><${Bilingual} title=${m.title} local=${m.titleLocal} /></td>
        <td><${StatusBadge} status=${m.status} /></td>
        <td>${m.owner ? bilingual(m.owner.name, m.owner.nameLocal)[0] : '—'}</td>
        <td><${DateText} iso=${m.dueOn || m.nextDueOn} />${m.overdue ? html` <span class="warn">${t('measure.overdue')}</span>` : null}</td>
      </tr>`,
    )}</tbody>
  </table></div>`;
}

/** @param {{ order: any, asOf: string, orders: any[], onSelect: (ref: string) => void }} props */
function OrderCharts({ order, asOf, orders, onSelect }) {
  const [points, setPoints] = useState(/** @type {any[] | null} */ (null));
  const gantt = useQuery(ORDER_GANTT, { orderId: order.id, asOf });
  useEffect(() => {
    let live = true;
    setPoints(null);
    const dates = samples(order.issuedOn, asOf);
    Promise.all(dates.map((d) => query(ORDER_PROGRESS_AT, { id: order.id, asOf: d }).then((r) => ({ asOf: d, ...(r.node?.progress ?? { total: 0, implemented: 0, verified: 0 }) })))).then(
      (ps) => live && setPoints(ps),
      () => live && setPoints([]),
    );
    return () => {
      live = false;
    };
  }, [order.id, asOf]);
  return html`<section aria-labelledby="charts" class="charts">
    <header class="page-head">
      <h2 id="charts">${t('dashboard.selected')}: ${order.reference}</h2>
      ${orders.length > 1
        ? html`<label>${t('dashboard.select')} <select value=${order.reference} onChange=${(/** @type {any} */ e) => onSelect(e.currentTarget.value)}>
            ${orders.map((o) => html`<option value=${o.order.reference}>${o.order.reference}</option>`)}
          </select></label>`
        : null}
    </header>
    <div class="columns">
      <div>
        <h3>${t('dashboard.burnup')}</h3>
        ${points ? html`<${BurnUp} points=${points} />` : html`<${Loading} />`}
      </div>
      <div>
        <h3>${t('dashboard.gantt')}</h3>
        ${gantt.error ? html`<${ErrorBox} error=${gantt.error} />` : gantt.data ? html`<${Gantt} measures=${gantt.data.measures.nodes} today=${asOf} />` : html`<${Loading} />`}
      </div>
    </div>
  </section>`;
}
