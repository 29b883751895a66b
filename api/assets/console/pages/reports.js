// Reports: drafts and due dates; one report with its submission (confirmed first), frozen
// snapshot, evaluations and downloads in every format the API generates.
import { useRef } from '../vendor/hooks.js';
import {
  html, Link, useQuery, useLive, useAction, Loading, ErrorBox, Empty, DateText, DaysToDeadline, PageTitle, Notice, reportPath, orderPath, measurePath, StatusBadge,
} from '../ui.js';
import { t, te, bilingual } from '../i18n.js';
import { ApiError, query, saveBlob, blobOfBase64 } from '../api.js';
import { REPORTS, REPORT_PAGE, SUBMIT_REPORT, GENERATED_REPORT, REPORT_BUNDLE, REPORT_CHANGED } from '../queries.js';
import { EvaluationList, EvaluationForm } from './evaluations.js';

const FORMATS = ['MARKDOWN', 'CSV', 'JSON', 'OSCAL_POAM', 'XLSX'];

/** @param {{ params: URLSearchParams }} props */
export function ReportsPage({ params }) {
  const orderId = params.get('order');
  const { data, error, loading, reload } = useQuery(REPORTS, { filter: orderId ? { orderId } : null });
  useLive(REPORT_CHANGED, {}, reload);
  const rows = data?.reports.nodes ?? [];
  return html`<section class="page reports" aria-busy=${loading ? 'true' : 'false'}>
    <header class="page-head"><${PageTitle}>${t('reports.title')}</${PageTitle}></header>
    ${error ? html`<${ErrorBox} error=${error} retry=${reload} />` : null}
    ${loading && !data ? html`<${Loading} />` : null}
    ${data && rows.length === 0 ? html`<${Empty} />` : null}
    ${rows.length
      ? html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">${t('table.code')}</th><th scope="col">${t('table.title')}</th><th scope="col">${t('reports.order')}</th>
        <th scope="col">${t('reports.status')}</th><th scope="col">${t('reports.due')}</th><th scope="col">${t('reports.submitted')}</th></tr></thead>
      <tbody>${rows.map(
        (/** @type {any} */ r) => html`<tr key=${r.id} class=${r.status === 'DRAFT' && r.daysToDeadline != null && r.daysToDeadline < 0 ? 'overdue' : ''}>
          <td><${Link} href=${reportPath(r.id)}>${r.code}</${Link}></td>
          <td>${bilingual(r.title, r.titleLocal)[0]}</td>
          <td><${Link} href=${orderPath(r.order.reference)}>${r.order.reference}</${Link}></td>
          <td><span class=${`badge report-${r.status.toLowerCase()}`}>${te('report', r.status)}</span></td>
          <td><${DateText} iso=${r.dueOn} />${r.status === 'DRAFT' && r.daysToDeadline != null
            ? html` <${DaysToDeadline} days=${r.daysToDeadline} />`
            : null}</td>
          <td><${DateText} iso=${r.submittedOn} /></td>
        </tr>`,
      )}</tbody></table></div>`
      : null}
  </section>`;
}

/** @param {{ id: string }} props */
export function ReportPage({ id }) {
  const { data, error, reload } = useQuery(REPORT_PAGE, { id });
  const r = data?.node;
  useLive(REPORT_CHANGED, {}, (d) => d?.reportChanged?.id === id && reload(), !!r);
  if (error) return html`<${ErrorBox} error=${error} retry=${reload} />`;
  if (!data) return html`<${Loading} />`;
  if (!r) return html`<${ErrorBox} error=${new ApiError('NOT_FOUND', '')} />`;
  const [title, local] = bilingual(r.title, r.titleLocal);
  return html`<section class="page report">
    <header class="page-head">
      <div>
        <p class="eyebrow"><${Link} href=${orderPath(r.order.reference)}>${r.order.reference}</${Link}> · ${r.code} · ${r.kind}</p>
        <${PageTitle}>${title}</${PageTitle}>
        ${local ? html`<p class="local">${local}</p>` : null}
      </div>
      <span class=${`badge report-${r.status.toLowerCase()}`} data-status=${r.status}>${te('report', r.status)}</span>
    </header>
    <dl class="facts">
      <dt>${t('reports.due')}</dt><dd><${DateText} iso=${r.dueOn} />${r.originalDueOn !== r.dueOn ? html` (${t('measure.originalDue')} <${DateText} iso=${r.originalDueOn} />)` : null}</dd>
      <dt>${t('reports.submitted')}</dt><dd><${DateText} iso=${r.submittedOn} /></dd>
    </dl>
    ${r.body ? html`<section aria-labelledby="body"><h2 id="body">${t('reports.body')}</h2><p class="text">${r.body}</p></section>` : null}
    ${r.status === 'DRAFT' && r.permissions.canSubmit ? html`<${SubmitReport} report=${r} onDone=${reload} />` : null}
    ${r.permissions.canGenerateReport || r.permissions.canDownloadBundle ? html`<${Downloads} report=${r} />` : null}
    <section aria-labelledby="snapshot">
      <h2 id="snapshot">${t('reports.snapshot')}</h2>
      ${r.snapshot ? html`<details><summary>JSON</summary><pre class="snapshot">${JSON.stringify(r.snapshot, null, 2)}</pre></details>` : html`<${Empty} text=${t('reports.noSnapshot')} />`}
    </section>
    <section aria-labelledby="covered">
      <h2 id="covered">${t('reports.measures')} (${r.measures.totalCount})</h2>
      <ul class="list columns-list">${r.measures.nodes.map(
        (/** @type {any} */ m) => html`<li key=${m.id}><${Link} href=${measurePath(m.id)}>${m.code}</${Link}> ${bilingual(m.title, m.titleLocal)[0]} <${StatusBadge} status=${m.status} /></li>`,
      )}</ul>
    </section>
    <section aria-labelledby="evaluations">
      <h2 id="evaluations">${t('evaluations.title')}</h2>
      <${EvaluationList} evaluations=${r.evaluations.nodes} />
      ${r.permissions.canEvaluate ? html`<${EvaluationForm} target=${{ reportId: r.id }} onDone=${reload} />` : null}
    </section>
  </section>`;
}

/** @param {{ report: any, onDone: () => void }} props */
function SubmitReport({ report, onDone }) {
  const dialog = useRef(/** @type {HTMLDialogElement | null} */ (null));
  const { busy, error, done, run } = useAction();
  const submit = () =>
    run(async () => {
      try {
        await query(SUBMIT_REPORT, { id: report.id, version: report.version });
      } finally {
        dialog.current?.close();
      }
      onDone();
      return t('reports.submittedOk');
    });
  return html`<section class="submit">
    <button type="button" class="primary" data-action="submit-report" onClick=${() => dialog.current?.showModal()}>${t('reports.submit')}</button>
    <dialog ref=${dialog} aria-labelledby="confirm-title">
      <h2 id="confirm-title">${t('reports.confirmTitle')}</h2>
      <p>${t('reports.confirmLead')}</p>
      <p><strong>${report.code}</strong> ${bilingual(report.title, report.titleLocal)[0]}</p>
      <div class="buttons">
        <button type="button" class="primary" data-action="confirm-submit" disabled=${busy} onClick=${submit}>${t('reports.confirm')}</button>
        <button type="button" onClick=${() => dialog.current?.close()}>${t('reports.cancel')}</button>
      </div>
    </dialog>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    <${Notice} text=${done} />
  </section>`;
}

/** @param {{ report: any }} props */
function Downloads({ report }) {
  const { error, run } = useAction();
  // A submitted report is generated from the plan as it stood on its submission day.
  const asOf = report.submittedOn || null;
  /** @param {string} format */
  const generated = (format) =>
    run(async () => {
      const d = await query(GENERATED_REPORT, { orderId: report.order.id, asOf, format });
      const g = d.regulatorReport;
      saveBlob(blobOfBase64(g.contentBase64, g.mediaType), g.filename);
      return null;
    });
  const bundle = () =>
    run(async () => {
      const d = await query(REPORT_BUNDLE, { reportId: report.id });
      const b = d.reportBundle;
      saveBlob(blobOfBase64(b.contentBase64, b.mediaType), b.fileName);
      return null;
    });
  return html`<section aria-labelledby="downloads">
    <h2 id="downloads">${t('reports.downloads')}</h2>
    <ul class="downloads">
      ${report.permissions.canGenerateReport ? FORMATS.map((f) => html`<li><button type="button" class="link" onClick=${() => generated(f)}>${t('reports.downloadFormat', { format: f })}</button></li>`) : null}
      ${report.permissions.canDownloadBundle ? html`<li><button type="button" class="link" onClick=${bundle}>${t('reports.bundle')}</button></li>` : null}
    </ul>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
  </section>`;
}
