// Sign-in: paste a token (kept for this tab only); on a demo server, pick a demo role. The
// token is checked with one query before it is kept. (An OIDC sign-in can sit beside these.)
import { useEffect, useState } from '../vendor/hooks.js';
import { html, useAction, ErrorBox, PageTitle } from '../ui.js';
import { t } from '../i18n.js';
import { query, setToken, clearToken } from '../api.js';
import { SIGN_IN_CHECK } from '../queries.js';

/** @param {{ onSignedIn: () => void }} props */
export function SignIn({ onSignedIn }) {
  const [demo, setDemo] = useState(/** @type {{ role: string, subject: string, orders: string[], token: string }[]} */ ([]));
  const { busy, error, run } = useAction();
  useEffect(() => {
    fetch('/console/demo-tokens', { headers: { Accept: 'application/json' } })
      .then((r) => (r.ok ? r.json() : { tokens: [] }))
      .then((d) => setDemo(Array.isArray(d.tokens) ? d.tokens : []))
      .catch(() => setDemo([]));
  }, []);
  /** @param {string} token */
  const use = (token) =>
    run(async () => {
      setToken(token.trim());
      try {
        await query(SIGN_IN_CHECK);
      } catch (err) {
        clearToken();
        throw err;
      }
      onSignedIn();
      return null;
    });
  /** @param {Event} e */
  const onSubmit = (e) => {
    e.preventDefault();
    const token = String(new FormData(/** @type {HTMLFormElement} */ (e.currentTarget)).get('token') || '');
    if (token.trim()) use(token);
  };
  return html`<section class="page signin">
    <${PageTitle}>${t('signin.title')}</${PageTitle}>
    ${demo.length
      ? html`<section aria-labelledby="demo-title" class="demo">
          <h2 id="demo-title">${t('signin.demo')}</h2>
          <p>${t('signin.demoLead')}</p>
          <ul class="buttons">${demo.map(
            (d) => html`<li><button type="button" data-role=${d.role} disabled=${busy} onClick=${() => use(d.token)}>
              ${t('signin.as', { role: d.role })}${d.orders.length ? html` <span class="meta">(${t('signin.only', { orders: d.orders.join(', ') })})</span>` : null}
            </button></li>`,
          )}</ul>
        </section>`
      : null}
    <form onSubmit=${onSubmit} class="token">
      <p>${t('signin.lead')}</p>
      <label for="token">${t('signin.token')}</label>
      <textarea id="token" name="token" rows="4" autocomplete="off" spellcheck=${false} required></textarea>
      <button type="submit" class="primary" disabled=${busy}>${t('signin.submit')}</button>
    </form>
    ${error ? html`<${ErrorBox} error=${error} />` : null}
    <p class="meta">${t('signin.later')}</p>
  </section>`;
}
