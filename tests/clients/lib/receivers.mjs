// What remedy's notifications are delivered to in the tests: a webhook receiver (plain HTTP on
// 127.0.0.1) and an SMTP server that insists on STARTTLS and AUTH (nodemailer's smtp-server),
// each recording everything it received.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

/**
 * An HTTP server on 127.0.0.1 (random port) recording every request (method, path, headers,
 * raw body string, the status it answered) that answers 500 to the first `failFirst`
 * requests, then 204. `failAll()` answers 500 to everything until `succeed()`.
 */
export async function webhookReceiver({ failFirst = 0 } = {}) {
  const requests = [];
  let failAll = false;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const fail = failAll || requests.length < failFirst;
      const status = fail ? 500 : 204;
      requests.push({
        method: req.method,
        path: req.url,
        headers: { ...req.headers },
        body: Buffer.concat(chunks).toString('utf8'),
        status,
        at: Date.now(),
      });
      res.writeHead(status, fail ? { 'content-type': 'text/plain' } : {});
      res.end(fail ? 'receiver says no' : undefined);
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    failAll() { failAll = true; },
    succeed() { failAll = false; failFirst = 0; },
    /** The distinct `webhook-id`s received, in order of first arrival. */
    ids() { return [...new Set(requests.map((r) => r.headers['webhook-id']))]; },
    /** The first request of each `webhook-id` that was answered 2xx. */
    delivered() {
      const seen = new Map();
      for (const r of requests) if (r.status < 300 && !seen.has(r.headers['webhook-id'])) seen.set(r.headers['webhook-id'], r);
      return [...seen.values()];
    },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export const SMTP_USER = 'remedy-mailer';
export const SMTP_PASSWORD = 'correct horse battery staple';

/**
 * A self-signed certificate for CN localhost with SANs DNS:localhost and IP:127.0.0.1 (an
 * end-entity certificate, CA:FALSE, so that webpki/rustls accepts it as its own trust anchor),
 * in a new temporary directory: `{ dir, keyPath, certPath }`.
 */
export function selfSignedCertificate() {
  const dir = mkdtempSync(join(tmpdir(), 'remedy-smtp-tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    '-addext', 'extendedKeyUsage=serverAuth',
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { dir, keyPath, certPath };
}

/**
 * An SMTP server on 127.0.0.1 (random port, plain SMTP with STARTTLS offered) that accepts
 * AUTH PLAIN/LOGIN only after STARTTLS and only for SMTP_USER/SMTP_PASSWORD, refuses MAIL
 * before both, parses each message (mailparser's simpleParser) and records
 * `{ from, to, subject, text, html, headers, envelope }`. `refused` lists what it turned
 * away (insecure or unauthenticated MAIL, bad AUTH).
 */
export async function smtpReceiver() {
  const { dir, keyPath, certPath } = selfSignedCertificate();
  const messages = [];
  const refused = [];
  const errors = [];
  const server = new SMTPServer({
    secure: false,
    key: readFileSync(keyPath),
    cert: readFileSync(certPath),
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    allowInsecureAuth: false,
    logger: false,
    closeTimeout: 1000,
    banner: 'remedy notify tests',
    onAuth(auth, session, callback) {
      if (!session.secure) {
        refused.push({ what: 'AUTH before STARTTLS', user: auth.username });
        return callback(new Error('Must issue a STARTTLS command first'));
      }
      if (auth.username === SMTP_USER && auth.password === SMTP_PASSWORD) {
        return callback(null, { user: auth.username });
      }
      refused.push({ what: 'bad credentials', user: auth.username });
      return callback(new Error('Invalid username or password'));
    },
    onMailFrom(address, session, callback) {
      if (!session.secure || !session.user) {
        refused.push({ what: 'MAIL before STARTTLS/AUTH', secure: session.secure, user: session.user, from: address.address });
        const err = new Error('STARTTLS and AUTH required first');
        err.responseCode = 530;
        return callback(err);
      }
      return callback();
    },
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((mail) => {
          messages.push({
            from: mail.from?.value?.map((a) => a.address.toLowerCase()) || [],
            to: mail.to ? [].concat(mail.to).flatMap((t) => t.value.map((a) => a.address.toLowerCase())) : [],
            subject: mail.subject || '',
            text: mail.text || '',
            html: typeof mail.html === 'string' ? mail.html : '',
            headers: Object.fromEntries(mail.headers),
            envelope: {
              from: session.envelope.mailFrom && session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            },
            secure: session.secure,
            user: session.user,
            at: Date.now(),
          });
          callback();
        })
        .catch((e) => {
          errors.push(e.message);
          callback(e);
        });
    },
  });
  server.on('error', (e) => errors.push(e.message));
  await new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.server.address();
  return {
    host: '127.0.0.1',
    port,
    user: SMTP_USER,
    password: SMTP_PASSWORD,
    certPath,
    messages,
    refused,
    errors,
    close() {
      rmSync(dir, { recursive: true, force: true });
      return new Promise((resolve) => {
        const timer = setTimeout(resolve, 3000);
        server.close(() => { clearTimeout(timer); resolve(); });
      });
    },
  };
}
