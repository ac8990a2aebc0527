#!/usr/bin/env node
// Approves (or denies) a pending RFC 8628 device authorization through the
// identity provider's real HTML pages, the way a person with a browser does:
// device page → user code → confirm → sign-in form → consent form.
// Cookies are kept by hand and redirects followed one by one.
//
//   node approve.mjs --uri URI [--code USER_CODE] [--user NAME] [--password PW]
//                    [--deny] [--timeout S] [--verbose]
//
// Prints `approved` or `denied` and exits 0 when the final page says so;
// otherwise exits 1 naming the step that failed (2 for bad usage).

import net from 'node:net';
import { parseArgs } from 'node:util';

const USAGE = 'usage: node approve.mjs --uri VERIFICATION_URI[_COMPLETE] [--code USER_CODE] '
  + '[--user NAME] [--password PW] [--deny] [--timeout S] [--verbose]';
const MAX_STEPS = 20;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      uri: { type: 'string' },
      code: { type: 'string' },
      user: { type: 'string', default: 'demo' },
      password: { type: 'string', default: 'password' },
      deny: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '30' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  }));
} catch (err) {
  process.stderr.write(`approve.mjs: ${err.message}\n${USAGE}\n`);
  process.exit(2);
}
if (opts.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

function usage(msg) {
  process.stderr.write(`approve.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

class StepError extends Error {
  constructor(step, msg) {
    super(`${step}: ${msg}`);
    this.step = step;
  }
}

function isLoopback(url) {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host.toLowerCase() === 'localhost') return true;
  if (net.isIPv4(host)) return host.split('.')[0] === '127';
  if (net.isIPv6(host)) return url.hostname === '[::1]';
  return false;
}

function checkUrl(raw, what) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new StepError(what, `not a URL: ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new StepError(what, `not an http(s) URL: ${raw}`);
  }
  if (!isLoopback(url)) throw new StepError(what, `refusing a non-loopback URL: ${url.origin}`);
  return url;
}

if (!opts.uri) usage('--uri is required');
if (!/^\d+(\.\d+)?$/.test(opts.timeout) || Number(opts.timeout) <= 0) usage('--timeout: not a positive number');
if (!opts.user) usage('--user: empty');

const log = (msg) => { if (opts.verbose) process.stderr.write(`approve.mjs: ${msg}\n`); };

// ---------------------------------------------------------------- cookies

const jar = []; // { name, value, path, origin }

function storeCookies(res, url) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let cpath = url.pathname.replace(/\/[^/]*$/, '') || '/';
    let expired = value === '';
    for (const a of attrs) {
      const [k, ...v] = a.split('=');
      const key = k.trim().toLowerCase();
      const val = v.join('=').trim();
      if (key === 'path' && val.startsWith('/')) cpath = val;
      if (key === 'max-age' && Number(val) <= 0) expired = true;
      if (key === 'expires' && Date.parse(val) <= Date.now()) expired = true;
    }
    const i = jar.findIndex((c) => c.name === name && c.path === cpath && c.origin === url.origin);
    if (i >= 0) jar.splice(i, 1);
    if (!expired) jar.push({ name, value, path: cpath, origin: url.origin });
  }
}

function pathMatches(reqPath, cpath) {
  if (reqPath === cpath) return true;
  if (!reqPath.startsWith(cpath)) return false;
  return cpath.endsWith('/') || reqPath[cpath.length] === '/';
}

function cookieHeader(url) {
  return jar
    .filter((c) => c.origin === url.origin && pathMatches(url.pathname, c.path))
    .sort((a, b) => b.path.length - a.path.length)
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

// ---------------------------------------------------------------- HTTP

let steps = 0;
const deadline = AbortSignal.timeout(Number(opts.timeout) * 1000);

async function request(step, method, url, form) {
  steps += 1;
  if (steps > MAX_STEPS) throw new StepError(step, `gave up after ${MAX_STEPS} HTTP requests`);
  checkUrl(url.href, step);
  const headers = { accept: 'text/html' };
  const cookie = cookieHeader(url);
  if (cookie) headers.cookie = cookie;
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  let res;
  try {
    res = await fetch(url, {
      method, headers, body, redirect: 'manual', signal: deadline,
    });
  } catch (err) {
    if (deadline.aborted) throw new StepError(step, `timed out after ${opts.timeout} s`);
    throw new StepError(step, `${method} ${url.href} failed: ${err.cause?.message || err.message}`);
  }
  storeCookies(res, url);
  const text = await res.text();
  log(`${step}: ${method} ${url.pathname} -> ${res.status}`);
  return { status: res.status, location: res.headers.get('location'), text, url };
}

// GET/POST, then follow redirects (as GET) until a page comes back.
async function navigate(step, method, url, form) {
  let r = await request(step, method, url, form);
  while ([301, 302, 303, 307, 308].includes(r.status)) {
    if (!r.location) throw new StepError(step, `redirect ${r.status} without Location`);
    const next = new URL(r.location, r.url);
    r = await request(step, 'GET', next);
  }
  return r;
}

// ---------------------------------------------------------------- HTML

const unescape = (s) => s
  .replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
  .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
  .replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>')
  .replace(/&amp;/g, '&');

function attrs(tag) {
  const out = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*(?:=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    out[m[1].toLowerCase()] = unescape(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

// Every <form>: its attributes and its named <input> fields.
function forms(html) {
  const out = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attrs(m[1]);
    const fields = {};
    for (const i of m[2].matchAll(/<input\b([^>]*)>/gi)) {
      const ia = attrs(i[1]);
      if (ia.name) fields[ia.name] = ia.value ?? '';
    }
    out.push({
      id: a.id, action: a.action, method: (a.method || 'get').toLowerCase(), fields,
    });
  }
  return out;
}

function pageResult(html) {
  return /id="idp-page"[^>]*data-result="([^"]*)"/.exec(html)?.[1];
}

function pageText(html) {
  return unescape(html.replace(/<head[\s\S]*?<\/head>/gi, '').replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ').trim().slice(0, 300);
}

// ---------------------------------------------------------------- flow

async function run() {
  const start = checkUrl(opts.uri, 'open verification page');
  const userCode = opts.code ?? start.searchParams.get('user_code');
  if (!userCode) throw new StepError('open verification page', 'no user code: give --code or a verification_uri_complete');

  let step = 'open verification page';
  let r = await navigate(step, 'GET', start);
  let submittedCode = false;
  let confirmed = false;

  for (;;) {
    if (r.status >= 500) throw new StepError(step, `HTTP ${r.status}: ${pageText(r.text)}`);
    const result = pageResult(r.text);
    const fs = forms(r.text);
    const byField = (name) => fs.find((f) => name in f.fields);

    if (result === 'approved') {
      if (opts.deny) throw new StepError(step, 'the request was approved, but --deny was asked for');
      return 'approved';
    }
    if (result === 'denied') {
      if (!opts.deny) throw new StepError(step, 'the request was denied');
      return 'denied';
    }
    if (result === 'error' || (r.status >= 400 && result !== 'login')) {
      throw new StepError(step, `HTTP ${r.status}: ${pageText(r.text)}`);
    }
    if (result === 'bad_code') {
      throw new StepError(step, `user code ${userCode} was rejected: ${pageText(r.text)}`);
    }

    const confirmForm = fs.find((f) => 'confirm' in f.fields);
    const codeForm = byField('user_code');
    const loginForm = byField('login');
    const consentForm = fs.find((f) => f.fields.prompt === 'consent');

    let form;
    let values;
    if (confirmForm) {
      if (confirmed) throw new StepError(step, 'the confirmation page came back');
      confirmed = true;
      step = opts.deny ? 'deny' : 'confirm';
      form = confirmForm;
      values = { ...form.fields };
      if (opts.deny) {
        delete values.confirm;
        values.abort = 'yes';
      }
    } else if (codeForm) {
      if (submittedCode) throw new StepError(step, `the user code form came back: ${pageText(r.text)}`);
      submittedCode = true;
      step = 'submit user code';
      form = codeForm;
      values = { ...form.fields, user_code: userCode };
    } else if (loginForm) {
      if (step === 'login') throw new StepError(step, `sign-in was refused: ${pageText(r.text)}`);
      step = 'login';
      form = loginForm;
      values = { ...form.fields, login: opts.user, password: opts.password };
    } else if (consentForm) {
      if (step === 'consent') throw new StepError(step, 'the consent page came back');
      step = 'consent';
      form = consentForm;
      values = { ...form.fields };
    } else {
      throw new StepError(step, `unexpected page (HTTP ${r.status}): ${pageText(r.text)}`);
    }

    if (form.method !== 'post') throw new StepError(step, `form method is ${form.method}, expected post`);
    const action = new URL(form.action || r.url.href, r.url);
    r = await navigate(step, 'POST', action, values);
  }
}

try {
  const outcome = await run();
  process.stdout.write(`${outcome}\n`);
  process.exit(0);
} catch (err) {
  if (err instanceof StepError) {
    process.stderr.write(`approve.mjs: failed at ${err.message}\n`);
  } else {
    process.stderr.write(`approve.mjs: ${err.stack || err}\n`);
  }
  process.exit(1);
}
