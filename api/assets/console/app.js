// The console's entry point: the shell (navigation, search, language and date style, who is
// signed in, whether updates are live) and the router. Every page is a URL.
import { render } from './vendor/preact.js';
import { useEffect, useState } from './vendor/hooks.js';
import { html, Link, useLocation, usePrefs, navigate, NotFound, orderPath } from './ui.js';
import { t, prefs, setPrefs } from './i18n.js';
import { getToken, clearToken, describeToken, onSignOut, onLiveState, query } from './api.js';
import { NAVIGATION } from './queries.js';
import { Dashboard } from './pages/dashboard.js';
import { OrderPage } from './pages/order.js';
import { MeasurePage } from './pages/measure.js';
import { ReportsPage, ReportPage } from './pages/reports.js';
import { OwnersPage } from './pages/owners.js';
import { SearchPage } from './pages/search.js';
import { SignIn } from './pages/signin.js';

/**
 * The page for a path, or null when there is none.
 * @param {string} path
 * @param {URLSearchParams} params
 */
function route(path, params) {
  /** @type {RegExpMatchArray | null} */
  let m;
  if (path === '/') return html`<${Dashboard} params=${params} />`;
  if ((m = path.match(/^\/orders\/([^/]+)$/))) return html`<${OrderPage} key=${m[1]} reference=${decodeURIComponent(m[1])} params=${params} />`;
  if ((m = path.match(/^\/measures\/([^/]+)$/))) return html`<${MeasurePage} key=${m[1]} id=${decodeURIComponent(m[1])} />`;
  if (path === '/reports') return html`<${ReportsPage} params=${params} />`;
  if ((m = path.match(/^\/reports\/([^/]+)$/))) return html`<${ReportPage} key=${m[1]} id=${decodeURIComponent(m[1])} />`;
  if (path === '/owners') return html`<${OwnersPage} />`;
  if (path === '/search') return html`<${SearchPage} key=${params.toString()} params=${params} />`;
  return null;
}

function LiveIndicator() {
  const [state, setState] = useState('offline');
  useEffect(() => {
    const off = onLiveState(setState);
    return () => {
      off();
    };
  }, []);
  const label = state === 'live' ? t('live.live') : state === 'connecting' ? t('live.connecting') : t('live.offline');
  return html`<span class=${`live live-${state}`} data-live=${state} role="status">${label}</span>`;
}

/** The language switch (header, and the sign-in page). */
function LanguageSelect() {
  return html`<label>${t('prefs.language')}
    <select value=${prefs.lang} onChange=${(/** @type {any} */ e) => setPrefs({ lang: e.currentTarget.value === 'ja' ? 'ja' : 'en' })}>
      <option value="en">English</option>
      <option value="ja">日本語</option>
    </select></label>`;
}

/** @param {{ path: string }} props */
function Shell({ path }) {
  const who = describeToken(getToken());
  const [orders, setOrders] = useState(/** @type {any[]} */ ([]));
  useEffect(() => {
    query(NAVIGATION).then(
      (d) => setOrders(d.orders.nodes),
      () => setOrders([]),
    );
  }, []);
  /** @param {Event} e */
  const onSearch = (e) => {
    e.preventDefault();
    const q = String(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget)).get('q') || '').trim();
    navigate(q ? `/search?q=${encodeURIComponent(q)}` : '/search');
  };
  /** @param {string} href */
  const current = (href) => (path.startsWith(href) ? 'page' : undefined);
  return html`<header class="top">
    <a class="skip" href="#main">${t('app.skip')}</a>
    <${Link} href="/" class="brand">remedy</${Link}>
    <nav aria-label=${t('nav.main')}>
      <ul>
        <li><${Link} href="/" aria-current=${path === '/' ? 'page' : undefined}>${t('nav.dashboard')}</${Link}></li>
        ${orders.map(
          (o) => html`<li key=${o.id}><${Link} href=${orderPath(o.reference)} aria-current=${current(orderPath(o.reference))}>${o.reference}</${Link}></li>`,
        )}
        <li><${Link} href="/reports" aria-current=${current('/reports')}>${t('nav.reports')}</${Link}></li>
        <li><${Link} href="/owners" aria-current=${current('/owners')}>${t('nav.owners')}</${Link}></li>
      </ul>
    </nav>
    <form role="search" class="search" onSubmit=${onSearch}>
      <label for="q" class="visually-hidden">${t('search.label')}</label>
      <input id="q" name="q" type="search" placeholder=${t('search.placeholder')} />
      <button type="submit">${t('search.submit')}</button>
    </form>
    <div class="prefs">
      <${LanguageSelect} />
      <label>${t('prefs.dates')}
        <select value=${prefs.dates} onChange=${(/** @type {any} */ e) => setPrefs({ dates: e.currentTarget.value === 'locale' ? 'locale' : 'iso' })}>
          <option value="iso">${t('prefs.dates.iso')}</option>
          <option value="locale">${t('prefs.dates.locale')}</option>
        </select></label>
    </div>
    <div class="who">
      <${LiveIndicator} />
      ${who ? html`<span class="subject">${t('signin.who', { subject: who.subject, roles: who.roles.join(', ') })}</span>` : null}
      <button type="button" onClick=${() => clearToken()}>${t('signin.out')}</button>
    </div>
  </header>`;
}

function App() {
  usePrefs();
  const { path, params } = useLocation();
  const [signedIn, setSignedIn] = useState(!!getToken());
  useEffect(() => {
    const off = onSignOut(() => setSignedIn(false));
    return () => {
      off();
    };
  }, []);
  useEffect(() => {
    document.title = `remedy — ${t('app.name')}`;
  }, [path]);

  if (!signedIn || path === '/signin') {
    const next = path === '/signin' ? params.get('next') || '/' : `${path}${location.search}`;
    return html`<main id="main" class="signin-main">
      <${SignIn} onSignedIn=${() => {
        setSignedIn(true);
        navigate(next.startsWith('/') && !next.startsWith('//') ? next : '/', { replace: true });
      }} />
      <footer class="lang-only">
        <${LanguageSelect} />
      </footer>
    </main>`;
  }
  const page = route(path, params);
  return html`<${Shell} path=${path} />
    <main id="main" key=${path}>${page ?? html`<${NotFound} />`}</main>
    <footer class="bottom"><a href="/graphiql">${t('nav.graphiql')}</a> · <a href="/graphql">/graphql</a></footer>`;
}

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(html`<${App} />`, root);
}
