// Shared pieces of the console: the template tag, routing, data hooks, and the small
// components every page uses. Everything is rendered as text (Preact creates text nodes);
// nothing here parses HTML.
import { h } from './vendor/preact.js';
import { useCallback, useEffect, useRef, useState } from './vendor/hooks.js';
import htm from './vendor/htm.js';
import { ApiError, asApiError, query, subscribe } from './api.js';
import { t, te, fmtDate, onPrefs, bilingual } from './i18n.js';

export const html = htm.bind(h);

// --- routing -------------------------------------------------------------------------

/** @type {Set<() => void>} */
const routeListeners = new Set();

/** @param {string} to @param {{ replace?: boolean }} [opts] */
export function navigate(to, opts = {}) {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  routeListeners.forEach((f) => f());
}

addEventListener('popstate', () => routeListeners.forEach((f) => f()));

/** The current location, re-rendering the caller when it changes. */
export function useLocation() {
  const [, bump] = useState(0);
  useEffect(() => {
    const f = () => bump((n) => n + 1);
    routeListeners.add(f);
    return () => {
      routeListeners.delete(f);
    };
  }, []);
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}

/** Re-renders the caller when the language or date style changes. */
export function usePrefs() {
  const [, bump] = useState(0);
  useEffect(() => {
    const off = onPrefs(() => bump((n) => n + 1));
    return () => {
      off();
    };
  }, []);
}

/**
 * A link inside the console: a real `<a href>` (it can be opened in a new tab, bookmarked,
 * copied), followed without reloading the page.
 * @param {{ href: string, children?: any, class?: string, 'aria-current'?: string }} props
 */
export function Link(props) {
  /** @param {MouseEvent} e */
  const onClick = (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return html`<a ...${props} onClick=${onClick}>${props.children}</a>`;
}

/** @param {string} id */
export const measurePath = (id) => `/measures/${encodeURIComponent(id)}`;
/** @param {string} id */
export const reportPath = (id) => `/reports/${encodeURIComponent(id)}`;
/** @param {string} reference */
export const orderPath = (reference) => `/orders/${encodeURIComponent(reference)}`;

/**
 * The type a global ID names (`Measure`, `Report`, ...).
 * @param {string} id
 */
export function typeOfId(id) {
  try {
    return atob(id.replace(/-/g, '+').replace(/_/g, '/')).split(':')[0];
  } catch {
    return '';
  }
}

// --- data ----------------------------------------------------------------------------

/**
 * Runs a query when its variables change, and again on `reload()`.
 * @template T
 * @param {string} document
 * @param {Record<string, unknown>} variables
 * @param {{ skip?: boolean }} [opts]
 * @returns {{ data: T | null, error: ApiError | null, loading: boolean, reload: () => void }}
 */
export function useQuery(document, variables, opts = {}) {
  const key = JSON.stringify(variables);
  const [state, setState] = useState(/** @type {{ data: any, error: ApiError | null, loading: boolean }} */ ({ data: null, error: null, loading: !opts.skip }));
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useEffect(() => {
    if (opts.skip) return;
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    query(document, variables).then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (error) =>
        mine === seq.current &&
        setState({ data: null, error: asApiError(error), loading: false }),
    );
  }, [document, key, tick, opts.skip]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

/**
 * Calls `onChange` (debounced) when a subscription reports a change; the page re-reads.
 * @param {string} document
 * @param {Record<string, unknown>} variables
 * @param {(data: any) => void} onChange
 * @param {boolean} [enabled]
 */
export function useLive(document, variables, onChange, enabled = true) {
  const key = JSON.stringify(variables);
  const latest = useRef(onChange);
  latest.current = onChange;
  useEffect(() => {
    if (!enabled) return;
    /** @type {ReturnType<typeof setTimeout> | null} */
    let timer = null;
    const off = subscribe(document, variables, (data) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => latest.current(data), 150);
    });
    return () => {
      if (timer) clearTimeout(timer);
      off();
    };
  }, [document, key, enabled]);
}

/**
 * One action a control starts (a mutation, a download): whether it runs, the error it
 * threw, and the message it answered. `run(work)` clears both and runs `work`; it answers
 * whether `work` succeeded.
 */
export function useAction() {
  const [state, setState] = useState(/** @type {{ busy: boolean, error: ApiError | null, done: string | null }} */ ({ busy: false, error: null, done: null }));
  /** @param {() => Promise<string | null>} work */
  const run = async (work) => {
    setState({ busy: true, error: null, done: null });
    try {
      const done = await work();
      setState({ busy: false, error: null, done });
      return true;
    } catch (err) {
      setState({ busy: false, error: asApiError(err), done: null });
      return false;
    }
  };
  return { ...state, run };
}

// --- components ----------------------------------------------------------------------

export function Loading() {
  return html`<p class="loading" role="status" aria-live="polite">${t('state.loading')}</p>`;
}

/** @param {{ text?: string }} props */
export function Empty({ text }) {
  return html`<p class="empty">${text || t('state.empty')}</p>`;
}

/**
 * An error, with its `extensions.code` and what it means.
 * @param {{ error: ApiError | Error, retry?: () => void }} props
 */
export function ErrorBox({ error, retry }) {
  const code = error instanceof ApiError ? error.code : 'ERROR';
  if (code === 'NOT_FOUND') return html`<${NotFound} />`;
  const meaning = te('error', code);
  return html`<div class="error" role="alert" data-code=${code}>
    <strong>${meaning === code ? t('error.ERROR') : meaning}</strong>
    <span class="code">${code}</span>
    ${error.message ? html`<p class="detail">${error.message}</p>` : null}
    ${retry ? html`<button type="button" onClick=${retry}>${t('state.retry')}</button>` : null}
  </div>`;
}

export function NotFound() {
  return html`<section class="not-found" data-code="NOT_FOUND">
    <h1 tabindex="-1">${t('state.notFound')}</h1>
    <p>${t('state.notFoundLead')}</p>
    <p><${Link} href="/">${t('nav.dashboard')}</${Link}></p>
  </section>`;
}

/** @param {{ status: string }} props */
export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status.toLowerCase()}`}>${te('status', status)}</span>`;
}

/**
 * A name in the language the user reads first, the other one (as recorded) under it.
 * @param {{ title: string, local?: string | null }} props
 */
export function Bilingual({ title, local }) {
  const [first, second] = bilingual(title, local);
  /** @param {string} text */
  const lang = (text) => (/[\u3040-\u30ff\u4e00-\u9faf]/.test(text) ? 'ja' : 'en');
  return html`<span class="bilingual"><span lang=${lang(first)}>${first}</span>${second ? html`<span class="local" lang=${lang(second)}>${second}</span>` : null}</span>`;
}

/**
 * Days left before a deadline, or days past it (in the warning colour).
 * @param {{ days: number }} props
 */
export function DaysToDeadline({ days }) {
  return days < 0
    ? html`<span class="warn">${t('dashboard.daysLate', { n: -days })}</span>`
    : html`<span class="meta">${t('dashboard.daysLeft', { n: days })}</span>`;
}

/** @param {{ iso?: string | null }} props */
export function DateText({ iso }) {
  return iso ? html`<time datetime=${iso}>${fmtDate(iso)}</time>` : html`<span>—</span>`;
}

export const STATUSES = ['PLANNED', 'IN_PROGRESS', 'IMPLEMENTED', 'VERIFIED', 'DEFERRED', 'CANCELLED'];
const FIGURE_KEYS = ['planned', 'inProgress', 'implemented', 'verified', 'deferred', 'cancelled'];

/**
 * A stacked bar of measures by status (SVG), with the figures as text for everyone.
 * @param {{ figures: Record<string, any>, label: string }} props
 */
export function ProgressBar({ figures, label }) {
  const total = figures.total || 0;
  let x = 0;
  const parts = FIGURE_KEYS.map((k, i) => {
    const n = figures[k] || 0;
    const w = total ? (n / total) * 100 : 0;
    const rect = html`<rect x=${`${x}%`} y="0" width=${`${w}%`} height="12" class=${`fill-${STATUSES[i].toLowerCase()}`}><title>${te('status', STATUSES[i])}: ${n}</title></rect>`;
    x += w;
    return rect;
  });
  const summary = FIGURE_KEYS.map((k, i) => `${te('status', STATUSES[i])} ${figures[k] || 0}`).join(', ');
  return html`<div class="progress">
    <svg class="bar" viewBox="0 0 100 12" preserveAspectRatio="none" role="img" aria-label=${`${label}: ${summary}`}>
      <rect x="0" y="0" width="100%" height="12" class="fill-track" />${parts}
    </svg>
    <p class="figures">
      <span>${t('figures.total')} ${total}</span>
      <span>${t('figures.done', { p: Math.round(figures.percentImplemented ?? 0) })}</span>
      <span>${t('figures.verifiedPct', { p: Math.round(figures.percentVerified ?? 0) })}</span>
      <span class=${figures.overdue ? 'warn' : ''}>${t('figures.overdue')} ${figures.overdue ?? 0}</span>
      <span>${t('figures.slipped')} ${figures.slipped ?? 0}</span>
    </p>
  </div>`;
}

/**
 * A page's main heading, focused when the page opens (so a screen reader announces it).
 * @param {{ children?: any }} props
 */
export function PageTitle({ children }) {
  const ref = useRef(/** @type {HTMLHeadingElement | null} */ (null));
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return html`<h1 tabindex="-1" ref=${ref}>${children}</h1>`;
}

/**
 * A flash message for what a mutation did.
 * @param {{ text: string | null }} props
 */
export function Notice({ text }) {
  return html`<p class="notice" role="status" aria-live="polite">${text || ''}</p>`;
}
