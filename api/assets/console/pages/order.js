// Order: its findings with their directives and the measures answering each, filters
// (status, owner, overdue, category, text), and the order's timeline.
import {
  html, Link, useQuery, useLive, navigate, Loading, ErrorBox, Empty, ProgressBar, DateText, PageTitle,
  STATUSES, measurePath, reportPath, orderPath, typeOfId,
} from '../ui.js';
import { t, te, bilingual, fmtDate, prefs } from '../i18n.js';
import { ORDER_PAGE, ORDER_MEASURES, MEASURE_CHANGED, REPORT_CHANGED } from '../queries.js';
import { MeasureTable } from './dashboard.js';

const CATEGORIES = ['ORGANIZATIONAL', 'TECHNICAL', 'PHYSICAL', 'HUMAN'];

/** @param {{ reference: string, params: URLSearchParams }} props */
export function OrderPage({ reference, params }) {
  const page = useQuery(ORDER_PAGE, { reference });
  const order = page.data?.orderByReference;
  const filter = {
    orderId: order?.id,
    status: params.get('status') ? [params.get('status')] : null,
    ownerId: params.get('owner') || null,
    category: params.get('category') || null,
    overdue: params.get('overdue') === '1' ? true : null,
    search: params.get('q') || null,
  };
  const measures = useQuery(ORDER_MEASURES, { filter }, { skip: !order });
  useLive(MEASURE_CHANGED, { orderId: order?.id ?? null }, () => {
    page.reload();
    measures.reload();
  }, !!order);
  useLive(REPORT_CHANGED, { orderId: order?.id ?? null }, page.reload, !!order);

  if (page.error) return html`<${ErrorBox} error=${page.error} retry=${page.reload} />`;
  if (!order) return html`<${Loading} />`;

  /** @param {Event} e */
  const onFilter = (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const key of ['status', 'owner', 'category', 'q']) {
      const v = String(data.get(key) || '').trim();
      if (v) next.set(key, v);
    }
    if (data.get('overdue')) next.set('overdue', '1');
    const qs = next.toString();
    navigate(`${orderPath(reference)}${qs ? `?${qs}` : ''}`, { replace: true });
  };

  const rows = measures.data?.measures.nodes ?? [];
  /** @type {Map<string, any[]>} */
  const byFinding = new Map();
  for (const m of rows) {
    for (const f of m.findings.nodes) {
      if (!byFinding.has(f.id)) byFinding.set(f.id, []);
      byFinding.get(f.id)?.push(m);
    }
  }
  const filtered = [...params.keys()].length > 0;
  const [title, local] = bilingual(order.title, order.titleLocal);
  const findings = order.findings.nodes.filter((/** @type {any} */ f) => !params.get('category') || f.category === params.get('category'));

  return html`<section class="page order">
    <header class="page-head">
      <div>
        <p class="eyebrow">${bilingual(order.regulator.name, order.regulator.nameLocal)[0]} · ${order.reference}</p>
        <${PageTitle}>${title}</${PageTitle}>
        ${local ? html`<p class="local">${local}</p>` : null}
        <p class="meta">${t('order.issued', { date: fmtDate(order.issuedOn) })}${order.legalBasis ? html` · ${t('order.legalBasis')}: ${order.legalBasis}` : null}</p>
      </div>
    </header>
    ${order.summary ? html`<p class="summary">${order.summary}</p>` : null}
    ${order.progress ? html`<${ProgressBar} figures=${order.progress} label=${order.reference} />` : null}
    <p><${Link} href=${`/reports?order=${encodeURIComponent(order.id)}`}>${t('nav.reports')}</${Link}> · <${Link} href=${`/?order=${encodeURIComponent(order.reference)}`}>${t('dashboard.burnup')}</${Link}></p>

    <form class="filters" onSubmit=${onFilter} aria-labelledby="filters-title">
      <h2 id="filters-title" class="visually-hidden">${t('filter.title')}</h2>
      <label>${t('filter.status')}
        <select name="status" value=${params.get('status') || ''}>
          <option value="">${t('filter.any')}</option>
          ${STATUSES.map((s) => html`<option value=${s}>${te('status', s)}</option>`)}
        </select></label>
      <label>${t('filter.owner')}
        <select name="owner" value=${params.get('owner') || ''}>
          <option value="">${t('filter.any')}</option>
          ${page.data.owners.nodes.map((/** @type {any} */ o) => html`<option value=${o.id}>${bilingual(o.name, o.nameLocal)[0]}</option>`)}
        </select></label>
      <label>${t('filter.category')}
        <select name="category" value=${params.get('category') || ''}>
          <option value="">${t('filter.any')}</option>
          ${CATEGORIES.map((c) => html`<option value=${c}>${te('category', c)}</option>`)}
        </select></label>
      <label class="check"><input type="checkbox" name="overdue" value="1" checked=${params.get('overdue') === '1'} /> ${t('filter.overdue')}</label>
      <label>${t('filter.search')} <input type="search" name="q" value=${params.get('q') || ''} /></label>
      <button type="submit">${t('filter.apply')}</button>
      ${filtered ? html`<button type="button" onClick=${() => navigate(orderPath(reference), { replace: true })}>${t('filter.clear')}</button>` : null}
    </form>
    ${measures.error ? html`<${ErrorBox} error=${measures.error} retry=${measures.reload} />` : null}

    <section aria-labelledby="findings-title" aria-busy=${measures.loading ? 'true' : 'false'}>
      <h2 id="findings-title">${t('order.findings')}</h2>
      ${measures.loading && !measures.data ? html`<${Loading} />` : null}
      ${findings.map((/** @type {any} */ f) => {
        const answering = byFinding.get(f.id) ?? [];
        if (filtered && answering.length === 0) return null;
        const [directive, directiveOther] = prefs.lang === 'ja' ? [f.directive, f.directiveEn] : [f.directiveEn || f.directive, f.directiveEn ? f.directive : null];
        return html`<article class="finding" key=${f.id} id=${`finding-${f.number}`}>
          <h3>${t('order.finding', { n: f.number })} <span class="badge">${te('category', f.category)}</span> ${f.title}</h3>
          <details>
            <summary>${t('order.facts')}</summary>
            <p class="text">${prefs.lang === 'ja' ? f.facts : f.factsEn || f.facts}</p>
          </details>
          <p class="directive"><strong>${t('order.directive')}:</strong> ${directive}</p>
          ${directiveOther ? html`<p class="local directive-other">${directiveOther}</p>` : null}
          <h4>${t('order.measures')}</h4>
          ${answering.length ? html`<${MeasureTable} measures=${answering} />` : html`<${Empty} text=${t('order.noMeasures')} />`}
        </article>`;
      })}
      ${filtered && rows.length === 0 && measures.data ? html`<${Empty} text=${t('order.noMeasures')} />` : null}
    </section>

    <section aria-labelledby="timeline-title">
      <h2 id="timeline-title">${t('order.timeline')}</h2>
      ${order.timeline.nodes.length === 0 ? html`<${Empty} />` : null}
      <ol class="timeline">
        ${order.timeline.nodes.map((/** @type {any} */ e, /** @type {number} */ i) => {
          const kind = typeOfId(e.nodeId);
          const href = kind === 'Measure' ? measurePath(e.nodeId) : kind === 'Report' ? reportPath(e.nodeId) : null;
          return html`<li key=${i} class=${`kind-${e.kind.toLowerCase()}`}>
            <${DateText} iso=${e.on} /> <span class="badge">${e.kind.replace(/_/g, ' ').toLowerCase()}</span>
            ${href ? html`<${Link} href=${href}>${e.summary}</${Link}>` : html`<span>${e.summary}</span>`}
          </li>`;
        })}
      </ol>
    </section>
  </section>`;
}
