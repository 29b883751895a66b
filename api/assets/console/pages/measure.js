// Measure: details, owner, systems, status with the transitions the caller may make (the
// API's `transitions`), evidence with SHA-256, validity and revisions, upload (hash computed
// here before, and the server's after), the recurring ledger or executions, due-date changes
// and evaluations.
import { useRef, useState } from '../vendor/hooks.js';
import {
  html, Link, useQuery, useLive, useAction, Loading, ErrorBox, Empty, StatusBadge, DateText, PageTitle, Notice, orderPath,
} from '../ui.js';
import { t, te, bilingual, fmtInstant } from '../i18n.js';
import { ApiError, query, upload, sha256Hex, downloadWithToken } from '../api.js';
import { MEASURE_PAGE, TRANSITION_MEASURE, UPLOAD_EVIDENCE, MEASURE_CHANGED } from '../queries.js';
import { EvaluationList, EvaluationForm } from './evaluations.js';

const EVIDENCE_KINDS = ['ATTESTATION', 'CERTIFICATE', 'SCAN_REPORT', 'PENTEST_REPORT', 'MINUTES', 'CONTRACT', 'POLICY', 'REPORT', 'OTHER'];

/** @param {{ id: string }} props */
export function MeasurePage({ id }) {
  const { data, error, reload } = useQuery(MEASURE_PAGE, { id });
  const m = data?.node;
  useLive(MEASURE_CHANGED, {}, (d) => d?.measureChanged?.id === id && reload(), !!m);
  if (error) return html`<${ErrorBox} error=${error} retry=${reload} />`;
  if (!data) return html`<${Loading} />`;
  if (!m) return html`<${ErrorBox} error=${new ApiError('NOT_FOUND', '')} />`;
  const [title, local] = bilingual(m.title, m.titleLocal);
  const orders = [...new Map(m.findings.nodes.map((/** @type {any} */ f) => [f.order.id, f.order])).values()];
  return html`<section class="page measure">
    <header class="page-head">
      <div>
        <p class="eyebrow">${orders.map((/** @type {any} */ o, /** @type {number} */ i) => html`${i ? ' · ' : ''}<${Link} href=${orderPath(o.reference)}>${o.reference}</${Link}>`)} · ${m.code}</p>
        <${PageTitle}><span class="measure-title">${title}</span></${PageTitle}>
        ${local ? html`<p class="local">${local}</p>` : null}
      </div>
      <${StatusBadge} status=${m.status} />
    </header>
    <dl class="facts">
      <dt>${t('measure.owner')}</dt><dd>${m.owner ? bilingual(m.owner.name, m.owner.nameLocal).filter(Boolean).join(' / ') : '—'}</dd>
      <dt>${t('measure.status')}</dt><dd>${te('status', m.status)}${m.statusReason ? ` — ${m.statusReason}` : ''}</dd>
      <dt>${t('measure.started')}</dt><dd><${DateText} iso=${m.startedOn} /></dd>
      <dt>${t('measure.due')}</dt><dd><${DateText} iso=${m.dueOn || m.nextDueOn} />${m.overdue ? html` <span class="warn">${t('measure.overdue')}</span>` : null}</dd>
      ${m.originalDueOn && m.originalDueOn !== m.dueOn ? html`<dt>${t('measure.originalDue')}</dt><dd><${DateText} iso=${m.originalDueOn} /></dd>` : null}
      <dt>${t('measure.completed')}</dt><dd><${DateText} iso=${m.completedOn} /></dd>
      ${m.recurrence !== 'NONE' ? html`<dt>${t('measure.recurrence')}</dt><dd>${m.recurrence}</dd><dt>${t('measure.nextDue')}</dt><dd><${DateText} iso=${m.nextDueOn} /></dd>
        <dt>${t('measure.onTime')}</dt><dd>${m.onTimeRate == null ? '—' : `${m.onTimeRate}%`}</dd>` : null}
      <dt>${t('measure.systems')}</dt><dd>${m.systems.nodes.map((/** @type {any} */ s) => s.name).join(', ') || '—'}</dd>
    </dl>
    ${m.plan ? html`<section aria-labelledby="plan"><h2 id="plan">${t('measure.plan')}</h2><p class="text" lang="ja">${m.plan}</p></section>` : null}
    ${m.note ? html`<section aria-labelledby="note"><h2 id="note">${t('measure.note')}</h2><p class="text">${m.note}</p></section>` : null}
    <section aria-labelledby="answers">
      <h2 id="answers">${t('measure.findings')}</h2>
      <ul class="list">${m.findings.nodes.map(
        (/** @type {any} */ f) => html`<li key=${f.id}><${Link} href=${`${orderPath(f.order.reference)}#finding-${f.number}`}>${f.order.reference} ${f.number}</${Link}> ${f.title}</li>`,
      )}</ul>
    </section>
    ${m.pendingChange ? html`<p class="notice-box">${t('measure.pending', { kind: m.pendingChange.kind, reason: m.pendingChange.reason })}</p>` : null}
    <${Transitions} measure=${m} onDone=${reload} />
    <${EvidenceSection} measure=${m} onDone=${reload} />
    ${m.recurrence !== 'NONE' ? html`<${Ledger} measure=${m} />` : null}
    <section aria-labelledby="dates">
      <h2 id="dates">${t('dates.title')}</h2>
      ${m.dueDateChanges.length === 0 ? html`<${Empty} text=${t('dates.none')} />` : html`<ul class="list">${m.dueDateChanges.map(
        (/** @type {any} */ c, /** @type {number} */ i) => html`<li key=${i}><${DateText} iso=${c.from} /> → <${DateText} iso=${c.to} /> (${c.later ? t('dates.later') : t('dates.earlier')})
          ${c.reason ? html` — ${c.reason}` : null} <span class="meta">${c.by}, ${fmtInstant(c.at)}</span></li>`,
      )}</ul>`}
    </section>
    <section aria-labelledby="evaluations">
      <h2 id="evaluations">${t('evaluations.title')}</h2>
      <${EvaluationList} evaluations=${m.evaluations.nodes} />
      ${m.permissions.canEvaluate ? html`<${EvaluationForm} target=${{ measureId: m.id }} onDone=${reload} />` : null}
    </section>
  </section>`;
}

/** @param {{ measure: any, onDone: () => void }} props */
function Transitions({ measure, onDone }) {
  const { busy, error, done, run } = useAction();
  if (measure.transitions.length === 0) return null;
  /** @param {Event} e */
  const onSubmit = (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const submitter = /** @type {HTMLButtonElement | null} */ (/** @type {SubmitEvent} */ (e).submitter);
    const to = submitter?.value;
    if (!to) return;
    const data = new FormData(form);
    run(async () => {
      await query(TRANSITION_MEASURE, {
        input: { id: measure.id, version: measure.version, to, reason: String(data.get('reason') || '') || null, on: String(data.get('on') || '') || null },
      });
      form.reset();
      onDone();
      return t('measure.moved', { status: te('status', to) });
    });
  };
  return html`<section aria-labelledby="transition">
    <h2 id="transition">${t('measure.transition')}</h2>
    <form class="transition" onSubmit=${onSubmit} data-action="transition">
      <label>${t('measure.reasonNeeded')} <input name="reason" type="text" maxlength="2000" /></label>
      <label>${t('measure.effectiveOn')} <input name="on" type="date" /></label>
      <div class="buttons">
        ${measure.transitions.map(
          (/** @type {string} */ s) => html`<button type="submit" name="to" value=${s} disabled=${busy} data-action=${`transition-${s}`}>${t('measure.moveTo', { status: te('status', s) })}</button>`,
        )}
      </div>
    </form>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    <${Notice} text=${done} />
  </section>`;
}

/** @param {{ measure: any, onDone: () => void }} props */
function EvidenceSection({ measure, onDone }) {
  const items = measure.evidence.nodes;
  const download = useAction();
  return html`<section aria-labelledby="evidence">
    <h2 id="evidence">${t('evidence.title')} (${items.length})</h2>
    ${items.length === 0 ? html`<${Empty} text=${t('evidence.none')} />` : null}
    <ul class="evidence">
      ${items.map(
        (/** @type {any} */ e) => html`<li key=${e.id} class=${e.current ? 'current' : 'superseded'}>
          <p><strong>${e.title}</strong> <span class="badge">${e.kind}</span> <span class="badge">${e.current ? t('evidence.current') : t('evidence.superseded')}</span></p>
          <p class="meta">${e.issuedBy || e.issuedOn ? html`${e.issuedBy || ''} ${e.issuedOn ? html`<${DateText} iso=${e.issuedOn} />` : null} · ` : null}
            ${e.validFrom || e.validUntil ? html`${t('evidence.validity')}: <${DateText} iso=${e.validFrom} /> – <${DateText} iso=${e.validUntil} /> · ` : null}
            ${e.mediaType}, ${e.sizeBytes} B · ${e.submittedBy}, ${fmtInstant(e.submittedAt)}</p>
          <p class="hash"><span>SHA-256</span> <code class="sha256">${e.sha256}</code></p>
          ${e.supersedes ? html`<p class="meta">${t('evidence.supersedes', { title: e.supersedes.title })}</p>` : null}
          ${e.storageUri
            ? html`<p class="meta">${t('evidence.external')}: <code>${e.storageUri}</code></p>`
            : html`<button type="button" class="link" onClick=${() => download.run(async () => (await downloadWithToken(e.downloadPath, e.title), null))}>${t('evidence.download')}</button>`}
        </li>`,
      )}
    </ul>
    ${download.error ? html`<${ErrorBox} error=${download.error} />` : null}
    ${measure.permissions.canAddEvidence ? html`<${UploadForm} measure=${measure} onDone=${onDone} />` : null}
  </section>`;
}

/** @param {{ measure: any, onDone: () => void }} props */
function UploadForm({ measure, onDone }) {
  const [before, setBefore] = useState(/** @type {string | null} */ (null));
  const [after, setAfter] = useState(/** @type {string | null} */ (null));
  const { busy, error, run } = useAction();
  const fileRef = useRef(/** @type {HTMLInputElement | null} */ (null));
  /** @param {Event} e */
  const onFile = async (e) => {
    const file = /** @type {HTMLInputElement} */ (e.currentTarget).files?.[0];
    setAfter(null);
    setBefore(file ? await sha256Hex(file) : null);
  };
  /** @param {Event} e */
  const onSubmit = (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const file = fileRef.current?.files?.[0];
    if (!file) return;
    const data = new FormData(form);
    run(async () => {
      const hash = before ?? (await sha256Hex(file));
      const res = await upload(
        UPLOAD_EVIDENCE,
        {
          input: { measureId: measure.id, kind: String(data.get('kind')), title: String(data.get('title') || file.name), validUntil: String(data.get('validUntil') || '') || null },
          expectedSha256: hash,
        },
        file,
      );
      setAfter(res.uploadEvidence.sha256);
      onDone();
      return null;
    });
  };
  return html`<form class="upload" onSubmit=${onSubmit} data-action="upload-evidence">
    <h3>${t('evidence.upload')}</h3>
    <label>${t('evidence.file')} <input ref=${fileRef} type="file" name="file" required onChange=${onFile} /></label>
    <label>${t('evidence.docTitle')} <input type="text" name="title" maxlength="500" /></label>
    <label>${t('evidence.kind')} <select name="kind">${EVIDENCE_KINDS.map((k) => html`<option value=${k}>${k}</option>`)}</select></label>
    <label>${t('evidence.validUntil')} <input type="date" name="validUntil" /></label>
    ${before ? html`<p class="hash"><span>${t('evidence.hashBefore')}</span> <code data-hash="before">${before}</code></p>` : null}
    <button type="submit" disabled=${busy}>${t('evidence.send')}</button>
    ${after ? html`<p class="hash"><span>${t('evidence.hashAfter')}</span> <code data-hash="after">${after}</code></p>
      ${after === before ? html`<p class="ok" role="status">${t('evidence.hashMatch')}</p>` : null}` : null}
    ${error ? html`<${ErrorBox} error=${error} />` : null}
  </form>`;
}

/** @param {{ measure: any }} props */
function Ledger({ measure }) {
  const periods = measure.periods.nodes;
  return html`<section aria-labelledby="ledger">
    <h2 id="ledger">${t('periods.title')}</h2>
    ${periods.length === 0 ? html`<${Empty} />` : html`<div class="table-wrap"><table>
      <thead><tr><th scope="col">${t('periods.PERIOD')}</th><th scope="col">${t('measure.due')}</th><th scope="col">${t('measure.status')}</th><th scope="col">${t('measure.completed')}</th></tr></thead>
      <tbody>${periods.map(
        (/** @type {any} */ p) => html`<tr key=${p.period} class=${`period-${p.status.toLowerCase()}`}><td>${p.period}</td><td><${DateText} iso=${p.dueOn} /></td>
          <td>${te('periods', p.status)}${p.skipReason ? ` — ${p.skipReason}` : ''}</td><td><${DateText} iso=${p.doneOn} />${p.doneBy ? ` (${p.doneBy})` : ''}</td></tr>`,
      )}</tbody></table></div>`}
    ${measure.occurrences.nodes.length
      ? html`<h3>${t('occurrences.title')}</h3><ul class="list">${measure.occurrences.nodes.map(
          (/** @type {any} */ o) => html`<li key=${o.id}>${o.period}: <${DateText} iso=${o.doneOn} /> ${o.doneBy}${o.note ? ` — ${o.note}` : ''}</li>`,
        )}</ul>`
      : null}
  </section>`;
}
