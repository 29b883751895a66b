// Owners: the workload of each owner (open, overdue, recurring on-time rate), and a link to
// their measures.
import { html, Link, useQuery, useLive, Loading, ErrorBox, Empty, PageTitle } from '../ui.js';
import { t, te, bilingual } from '../i18n.js';
import { OWNERS, MEASURE_CHANGED } from '../queries.js';

export function OwnersPage() {
  const { data, error, loading, reload } = useQuery(OWNERS, {});
  useLive(MEASURE_CHANGED, {}, reload);
  const rows = data?.owners.nodes ?? [];
  const max = Math.max(1, ...rows.map((/** @type {any} */ o) => o.workload.total));
  return html`<section class="page owners" aria-busy=${loading ? 'true' : 'false'}>
    <header class="page-head"><${PageTitle}>${t('owners.title')}</${PageTitle}></header>
    ${error ? html`<${ErrorBox} error=${error} retry=${reload} />` : null}
    ${loading && !data ? html`<${Loading} />` : null}
    ${data && rows.length === 0 ? html`<${Empty} />` : null}
    ${rows.length
      ? html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">${t('measure.owner')}</th><th scope="col">${t('owners.workload')}</th><th scope="col">${t('owners.open')}</th>
        <th scope="col">${t('owners.overdue')}</th><th scope="col">${t('owners.total')}</th><th scope="col">${t('owners.onTime')}</th></tr></thead>
      <tbody>${rows.map((/** @type {any} */ o) => {
        const w = o.workload;
        const [name, other] = bilingual(o.name, o.nameLocal);
        return html`<tr key=${o.id}>
          <th scope="row"><${Link} href=${`/search?owner=${encodeURIComponent(o.id)}`}>${name}</${Link}>${other ? html`<span class="local"> ${other}</span>` : null}
            <span class="meta"> ${te('kind', o.kind)}${o.roleTitle ? ` · ${o.roleTitle}` : ''}</span></th>
          <td><svg class="bar" viewBox="0 0 100 12" preserveAspectRatio="none" role="img" aria-label=${`${t('owners.open')} ${w.open}, ${t('owners.overdue')} ${w.overdue}, ${t('owners.total')} ${w.total}`}>
            <rect x="0" y="0" width=${(w.total / max) * 100} height="12" class="fill-track" />
            <rect x="0" y="0" width=${(w.open / max) * 100} height="12" class="fill-in_progress" />
            <rect x="0" y="0" width=${(w.overdue / max) * 100} height="12" class="fill-overdue" />
          </svg></td>
          <td>${w.open}</td><td class=${w.overdue ? 'warn' : ''}>${w.overdue}</td><td>${w.total}</td>
          <td>${w.onTimeRate == null ? '—' : `${w.onTimeRate}%`}</td>
        </tr>`;
      })}</tbody></table></div>`
      : null}
  </section>`;
}
