// Evaluations of a report or a measure: the list, and the form for callers who may evaluate
// (the API's `permissions.canEvaluate`).
import { html, useAction, Empty, ErrorBox, Notice } from '../ui.js';
import { t, te, bilingual, fmtInstant } from '../i18n.js';
import { query } from '../api.js';
import { ADD_EVALUATION } from '../queries.js';

const VERDICTS = ['SATISFACTORY', 'NEEDS_IMPROVEMENT', 'UNSATISFACTORY'];

/** @param {{ evaluations: any[] }} props */
export function EvaluationList({ evaluations }) {
  if (evaluations.length === 0) return html`<${Empty} text=${t('evaluations.none')} />`;
  return html`<ul class="evaluations">${evaluations.map(
    (e) => html`<li key=${e.id} class=${`verdict-${e.verdict.toLowerCase()}`}>
      <p><span class="badge">${te('verdict', e.verdict)}</span>${' '}
        <span class="meta">${e.evaluator ? bilingual(e.evaluator.name, e.evaluator.nameLocal)[0] : e.evaluatorSubject}, ${fmtInstant(e.evaluatedAt)}</span></p>
      ${e.comment ? html`<p class="text">${e.comment}</p>` : null}
    </li>`,
  )}</ul>`;
}

/** @param {{ target: { reportId?: string, measureId?: string }, onDone: () => void }} props */
export function EvaluationForm({ target, onDone }) {
  const { busy, error, done, run } = useAction();
  /** @param {Event} e */
  const onSubmit = (e) => {
    e.preventDefault();
    const form = /** @type {HTMLFormElement} */ (e.currentTarget);
    const data = new FormData(form);
    run(async () => {
      await query(ADD_EVALUATION, { input: { ...target, verdict: String(data.get('verdict')), comment: String(data.get('comment') || '') || null } });
      form.reset();
      onDone();
      return t('evaluations.added');
    });
  };
  return html`<form class="evaluation" onSubmit=${onSubmit} data-action="add-evaluation">
    <h3>${t('evaluations.add')}</h3>
    <fieldset>
      <legend>${t('evaluations.verdict')}</legend>
      ${VERDICTS.map(
        (v, i) => html`<label class="check"><input type="radio" name="verdict" value=${v} checked=${i === 0} /> ${te('verdict', v)}</label>`,
      )}
    </fieldset>
    <label>${t('evaluations.comment')} <textarea name="comment" rows="3" maxlength="5000"></textarea></label>
    <button type="submit" disabled=${busy}>${t('evaluations.send')}</button>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    <${Notice} text=${done} />
  </form>`;
}
