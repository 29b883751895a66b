// Search: measures matching a text (code, title, plan), or those of one owner. Only what the
// caller may see is found: the API answers for the token's orders only.
import { html, useQuery, Loading, ErrorBox, Empty, PageTitle } from '../ui.js';
import { t } from '../i18n.js';
import { SEARCH } from '../queries.js';
import { MeasureTable } from './dashboard.js';

/** @param {{ params: URLSearchParams }} props */
export function SearchPage({ params }) {
  const q = (params.get('q') || '').trim();
  const owner = params.get('owner') || '';
  const skip = !q && !owner;
  const { data, error, loading, reload } = useQuery(SEARCH, { filter: { search: q || null, ownerId: owner || null } }, { skip });
  const rows = data?.measures.nodes ?? [];
  return html`<section class="page search" aria-busy=${loading ? 'true' : 'false'}>
    <header class="page-head"><${PageTitle}>${q ? t('search.for', { q }) : t('search.title')}</${PageTitle}></header>
    ${error ? html`<${ErrorBox} error=${error} retry=${reload} />` : null}
    ${loading && !data ? html`<${Loading} />` : null}
    ${data ? html`<p role="status" class="meta">${t('search.results', { n: data.measures.totalCount })}</p>` : null}
    ${data && rows.length === 0 ? html`<${Empty} />` : null}
    <${MeasureTable} measures=${rows} />
  </section>`;
}
