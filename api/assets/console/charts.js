// Charts drawn as SVG from the API's figures (no chart library, no CDN). Each chart has a
// text alternative: a table a screen reader (and anyone) can read.
import { html, Link, measurePath } from './ui.js';
import { t, te, fmtDate } from './i18n.js';

/** @param {string} iso */
const day = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10));

/**
 * Implemented and verified measures over time, against the total.
 * @param {{ points: { asOf: string, total: number, implemented: number, verified: number }[] }} props
 */
export function BurnUp({ points }) {
  if (points.length === 0) return null;
  const W = 640;
  const H = 220;
  const pad = { l: 36, r: 12, t: 10, b: 28 };
  const max = Math.max(1, ...points.map((p) => p.total));
  const x0 = day(points[0].asOf);
  const x1 = Math.max(x0 + 1, day(points[points.length - 1].asOf));
  /** @param {string} iso */
  const sx = (iso) => pad.l + ((day(iso) - x0) / (x1 - x0)) * (W - pad.l - pad.r);
  /** @param {number} n */
  const sy = (n) => H - pad.b - (n / max) * (H - pad.t - pad.b);
  /** @param {(p: any) => number} f */
  const line = (f) => points.map((p, i) => `${i ? 'L' : 'M'}${sx(p.asOf).toFixed(1)},${sy(f(p)).toFixed(1)}`).join(' ');
  const ticks = [0, Math.round(max / 2), max];
  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby="burnup-title">
      <title id="burnup-title">${t('dashboard.burnup')}</title>
      ${ticks.map(
        (n) => html`<g class="tick"><line x1=${pad.l} x2=${W - pad.r} y1=${sy(n)} y2=${sy(n)} /><text x=${pad.l - 6} y=${sy(n) + 4} text-anchor="end">${n}</text></g>`,
      )}
      <path class="line-total" d=${line((p) => p.total)} />
      <path class="line-implemented" d=${line((p) => p.implemented + p.verified)} />
      <path class="line-verified" d=${line((p) => p.verified)} />
      <text x=${pad.l} y=${H - 8}>${fmtDate(points[0].asOf)}</text>
      <text x=${W - pad.r} y=${H - 8} text-anchor="end">${fmtDate(points[points.length - 1].asOf)}</text>
    </svg>
    <figcaption>
      <span class="key key-total">${t('figures.total')}</span>
      <span class="key key-implemented">${te('status', 'IMPLEMENTED')} + ${te('status', 'VERIFIED')}</span>
      <span class="key key-verified">${te('status', 'VERIFIED')}</span>
    </figcaption>
    <details class="chart-data">
      <summary>${t('dashboard.burnup')}</summary>
      <table>
        <thead><tr><th scope="col">${t('dashboard.asOf')}</th><th scope="col">${t('figures.total')}</th><th scope="col">${te('status', 'IMPLEMENTED')}</th><th scope="col">${te('status', 'VERIFIED')}</th></tr></thead>
        <tbody>${points.map((p) => html`<tr><td>${fmtDate(p.asOf)}</td><td>${p.total}</td><td>${p.implemented}</td><td>${p.verified}</td></tr>`)}</tbody>
      </table>
    </details>
  </figure>`;
}

/**
 * Measures as bars from their start to their due date (Gantt-like), with the original due
 * date marked when it moved, and today.
 * @param {{ measures: any[], today: string }} props
 */
export function Gantt({ measures, today }) {
  // A bar from the start (or the due date) to the due date, or to completion when later.
  const rows = measures
    .map((m) => {
      const due = m.dueOn || m.nextDueOn;
      const from = m.startedOn || due || m.completedOn;
      const to = [due, m.completedOn].filter(Boolean).sort().pop() || from;
      return from ? { ...m, due, from, to } : null;
    })
    .filter(Boolean);
  if (rows.length === 0) return null;
  const lo = Math.min(...rows.map((m) => day(m.from)));
  let hi = Math.max(...rows.flatMap((m) => [m.to, m.originalDueOn].filter(Boolean).map(day))) + 86_400_000;
  // Today is drawn when it falls near the plan's span, not when it would squash the bars.
  const showToday = day(today) >= lo && day(today) <= hi + (hi - lo) * 0.25;
  if (showToday) hi = Math.max(hi, day(today) + 86_400_000);
  const W = 640;
  const label = 150;
  const rowH = 18;
  const H = rows.length * rowH + 24;
  /** @param {string} iso */
  const sx = (iso) => label + ((day(iso) - lo) / (hi - lo)) * (W - label - 8);
  return html`<figure class="chart gantt">
    <svg viewBox=${`0 0 ${W} ${H}`} role="img" aria-labelledby="gantt-title">
      <title id="gantt-title">${t('dashboard.gantt')}</title>
      ${rows.map((m, i) => {
        const y = i * rowH + 4;
        const { from, to } = m;
        return html`<g class=${`gantt-row status-${m.status.toLowerCase()}${m.overdue ? ' overdue' : ''}`}>
          <text x="4" y=${y + 12}>${m.code}</text>
          <rect x=${sx(from)} y=${y + 2} width=${Math.max(3, sx(to) - sx(from))} height=${rowH - 6} rx="2"><title>${m.code}: ${fmtDate(from)} – ${fmtDate(m.due)} (${te('status', m.status)})</title></rect>
          ${m.originalDueOn && m.originalDueOn !== m.dueOn ? html`<line class="moved" x1=${sx(m.originalDueOn)} x2=${sx(m.originalDueOn)} y1=${y + 1} y2=${y + rowH - 3} />` : null}
        </g>`;
      })}
      ${showToday
        ? html`<line class="today" x1=${sx(today)} x2=${sx(today)} y1="0" y2=${H - 18} />
          <text class="today-label" x=${sx(today)} y=${H - 4} text-anchor="middle">${fmtDate(today)}</text>`
        : null}
      <text class="today-label" x=${label} y=${H - 4}>${fmtDate(new Date(lo).toISOString().slice(0, 10))}</text>
      ${showToday ? null : html`<text class="today-label" x=${W - 8} y=${H - 4} text-anchor="end">${fmtDate(new Date(hi - 86_400_000).toISOString().slice(0, 10))}</text>`}
    </svg>
    <details class="chart-data">
      <summary>${t('dashboard.gantt')}</summary>
      <table>
        <thead><tr><th scope="col">${t('table.code')}</th><th scope="col">${t('measure.started')}</th><th scope="col">${t('measure.due')}</th><th scope="col">${t('measure.originalDue')}</th><th scope="col">${t('measure.status')}</th></tr></thead>
        <tbody>${rows.map(
          (m) => html`<tr><td><${Link} href=${measurePath(m.id)}>${m.code}</${Link}></td><td>${fmtDate(m.startedOn)}</td><td>${fmtDate(m.due)}</td><td>${fmtDate(m.originalDueOn)}</td><td>${te('status', m.status)}</td></tr>`,
        )}</tbody>
      </table>
    </details>
  </figure>`;
}
