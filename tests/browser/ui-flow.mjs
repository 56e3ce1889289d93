#!/usr/bin/env node
// End-to-end test of the cdp-auth web UI in a real (headless) Chromium, then of the Postman
// exports the UI hands out, run unedited with newman against the same live server. The WebTag
// step serves two tiny pages on loopback ports of its own: the origin allowed in the UI sends
// an event with the browser accessKey, the other one is refused by CORS.
//
//   npm ci --prefix tests/browser && node tests/browser/ui-flow.mjs
//
// Environment:
//   CDP_AUTH_BIN     the server binary (default ../../target/debug/cdp-auth from this file)
//   CHROMIUM_PATH    the browser (default /usr/bin/chromium)
//   KEEP_TMP=1       keep the temporary directory (database, server log, downloads)
//   SCREENSHOTS=1    save a full-page screenshot after every browser step to artifacts/
//
// Exits non-zero on any failure, after saving a full-page screenshot and the page's HTML to
// tests/browser/artifacts/ (with the server's log and the Postman files downloaded so far).

import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const newman = require('newman');

const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(process.env.CDP_AUTH_BIN || join(here, '../../target/debug/cdp-auth'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = join(here, 'artifacts');
const STEP_TIMEOUT_MS = 15_000;

const started = Date.now();
const tmp = mkdtempSync(join(tmpdir(), 'cdp-auth-ui-'));
const downloads = join(tmp, 'downloads');
mkdirSync(downloads);
const database = `sqlite://${join(tmp, 'db.sqlite')}`;

let server;
let serverLog = '';
let browser;
let page;
let currentStep = 'start';
let passed = 0;

function elapsed() {
  return `${((Date.now() - started) / 1000).toFixed(1)} s`;
}

async function step(name, body) {
  currentStep = name;
  const t0 = Date.now();
  await body();
  passed += 1;
  if (process.env.SCREENSHOTS && page && !page.isClosed()) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `step-${String(passed).padStart(2, '0')}.png`), fullPage: true });
  }
  console.log(`ok ${passed} - ${name} (${Date.now() - t0} ms)`);
}

// ---- The server -----------------------------------------------------------------------------

function cli(...args) {
  const out = execFileSync(BIN, [...args, '--database', database], {
    cwd: tmp,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out);
}

function startServer() {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--database', database], {
      cwd: tmp,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    const timer = setTimeout(() => reject(new Error('the server did not print "listening on" within 30 s')), 30_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited early (code ${code}, signal ${signal})`));
    });
    child.stderr.on('data', (chunk) => { serverLog += chunk; });
    createInterface({ input: child.stdout }).on('line', (line) => {
      serverLog += `${line}\n`;
      const match = /^listening on (http:\/\/\S+)$/.exec(line.trim());
      if (match) { clearTimeout(timer); resolvePromise(match[1]); }
    });
  });
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// ---- The a1user HTTP API, from node ---------------------------------------------------------

function basic(username, password) {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

async function a1Login(auth, username, password) {
  const response = await fetch(`${auth}/authentication?action=login`, {
    method: 'POST',
    headers: { Authorization: basic(username, password), 'Content-Type': 'application/json' },
  });
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, body, text };
}

async function a1LoginOk(auth, username, password, what) {
  const r = await a1Login(auth, username, password);
  assert.equal(r.status, 200, `${what}: login answered ${r.status}: ${r.text}`);
  assert.match(r.body.access_token, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    `${what}: access_token is not a UUID: ${r.text}`);
  assert.equal(r.body.username, username, `${what}: login answered for another username: ${r.text}`);
  return r.body.access_token;
}

async function a1Revoke(auth, token) {
  const response = await fetch(`${auth}/token?scheme=a1user`, {
    method: 'DELETE',
    headers: { Authorization: `Bearer ${token}` },
  });
  return { status: response.status, text: await response.text() };
}

// ---- A shop site for the WebTag step --------------------------------------------------------

/** A minimal page on its own loopback origin; `close()` drops kept-alive connections too. */
function startShop() {
  return new Promise((resolvePromise, reject) => {
    const shop = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : '<!doctype html><title>shop</title>');
    });
    shop.once('error', reject);
    shop.listen(0, '127.0.0.1', () => {
      const origin = `http://127.0.0.1:${shop.address().port}`;
      resolvePromise({
        origin,
        close: () => new Promise((r) => { shop.closeAllConnections(); shop.close(() => r()); }),
      });
    });
  });
}

// ---- Page helpers ---------------------------------------------------------------------------

function pathOf(url) {
  return new URL(url).pathname;
}

async function expectPath(expected) {
  const actual = pathOf(page.url());
  assert.equal(actual, expected, `expected to be on ${expected}, but the browser is on ${page.url()}`);
}

async function signIn(username, password) {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

async function navTo(linkName, expectedPath) {
  await Promise.all([
    page.waitForURL((u) => u.pathname === expectedPath),
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: linkName, exact: true }).click(),
  ]);
}

/** Reads the shown-once page: the four labelled fields and the instance id. */
async function readCredentials(expectedHeading) {
  await page.getByRole('heading', { level: 1, name: expectedHeading }).waitFor();
  const value = (label) => page.getByLabel(label, { exact: true }).inputValue();
  const creds = {
    apiHost: await value('API Host URL'),
    authHost: await value('Authentication Host URL'),
    username: await value('UserName'),
    password: await value('Password'),
  };
  for (const label of ['API Host URL', 'Authentication Host URL', 'UserName', 'Password']) {
    const field = page.getByLabel(label, { exact: true });
    assert.equal(await field.getAttribute('readonly'), '', `the ${label} field is not read-only`);
    await page.getByRole('button', { name: `Copy ${label}`, exact: true }).waitFor();
  }
  const warning = await page.getByRole('alert').innerText();
  assert.match(warning, /cannot be viewed again/i, `no shown-once warning: ${warning}`);
  for (const [k, v] of Object.entries(creds)) assert.ok(v, `the ${k} field is empty`);
  const goTo = page.getByRole('link', { name: 'Go to the instance' });
  const href = await goTo.getAttribute('href');
  const id = /^\/ui\/instances\/(\d+)$/.exec(href ?? '')?.[1];
  assert.ok(id, `no instance link on the credentials page (href ${href})`);
  return { ...creds, id };
}

async function addInstance(name, typeLabel) {
  await navTo('Add Instance', '/ui/instances/new');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByLabel('Instance Type', { exact: true }).selectOption({ label: typeLabel });
  assert.equal(await page.getByLabel('Tenant', { exact: true }).count(), 0,
    'a Tenant select is shown although there is only one tenant');
  await Promise.all([
    page.waitForNavigation(),
    page.getByRole('button', { name: 'Save', exact: true }).click(),
  ]);
  const creds = await readCredentials('Instance created');
  const summary = await page.locator('dl.summary').innerText();
  assert.ok(summary.includes(name) && summary.includes(typeLabel),
    `the credentials page does not name ${name} (${typeLabel}): ${summary}`);
  return { name, typeLabel, ...creds };
}

async function download(linkName, saveAs) {
  const [dl] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('link', { name: linkName, exact: true }).click(),
  ]);
  const failure = await dl.failure();
  assert.equal(failure, null, `the ${linkName} download failed: ${failure}`);
  const target = join(downloads, saveAs);
  await dl.saveAs(target);
  return { path: target, suggested: dl.suggestedFilename(), json: JSON.parse(readFileSync(target, 'utf8')) };
}

async function html() {
  return page.content();
}

// Shown-once pages this flow reloads on purpose: the second view answers 410.
const expectedGone = new Set();

// Every page shown after a shown-once page must not carry the password in its HTML.
const secretsShown = [];
async function assertNoSecretsInPage(where) {
  const content = await html();
  for (const { what, secret } of secretsShown) {
    assert.ok(!content.includes(secret), `${where} (${page.url()}) contains ${what} in its HTML`);
  }
}

/** The audit table's rows as {actor, action, instance, detail}. */
async function auditRows() {
  return page.locator('table.audit tbody tr').evaluateAll((rows) => rows.map((row) => {
    const cell = (i) => (row.cells[i]?.textContent ?? '').trim();
    return { actor: cell(1), action: cell(2), instance: cell(4), detail: cell(6) };
  }));
}

async function auditActions() {
  return (await auditRows()).map((r) => r.action);
}

// ---- Layout ---------------------------------------------------------------------------------

const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 };
const LAPTOP = { viewport: { width: 1280, height: 800 } };

/** Asserts that the page is no wider than the phone: nothing makes it zoom out. */
async function assertFitsWidth(p, what) {
  const { width, scrollWidth, widest } = await p.evaluate(() => {
    const viewport = 390;
    let widest = '';
    for (const el of document.querySelectorAll('body *')) {
      const right = el.getBoundingClientRect().right + window.scrollX;
      if (right > viewport + 0.5 && !el.closest('.scroll')) {
        widest = `${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(right)} px`;
        break;
      }
    }
    return { width: viewport, scrollWidth: document.documentElement.scrollWidth, widest };
  });
  assert.ok(scrollWidth <= width, `${what} is ${scrollWidth} px wide on a ${width} px phone (${widest})`);
}

/** Asserts that every table of the page shows every column whole: no cell past its scroll box
 *  or the window, no scroll box that scrolls, no cell whose content is wider than the cell. */
async function assertTablesReadable(p, what) {
  const problems = await p.evaluate(() => {
    const found = [];
    const viewport = window.innerWidth;
    if (document.documentElement.scrollWidth > viewport) {
      found.push(`the page is ${document.documentElement.scrollWidth} px wide`);
    }
    const boxes = [...document.querySelectorAll('.scroll')];
    if (boxes.length === 0) found.push('no table');
    for (const box of boxes) {
      if (box.scrollWidth > box.clientWidth) found.push(`a table scrolls: ${box.scrollWidth} px in ${box.clientWidth} px`);
      const edge = box.getBoundingClientRect().right;
      for (const cell of box.querySelectorAll('th, td')) {
        const r = cell.getBoundingClientRect();
        const name = `${cell.tagName.toLowerCase()} "${cell.textContent.trim().slice(0, 30)}"`;
        if (r.right > edge + 0.5 || r.right > viewport) found.push(`${name} ends at ${Math.round(r.right)} px, past ${Math.round(edge)} px`);
        if (cell.scrollWidth > cell.clientWidth + 1) found.push(`${name} is clipped (${cell.scrollWidth} px in ${cell.clientWidth} px)`);
        if (cell.textContent.trim() && r.width < 40) found.push(`${name} is ${Math.round(r.width)} px narrow`);
        for (const inner of cell.querySelectorAll('a, code, span, button')) {
          if (inner.closest('.visually-hidden')) continue;
          const ir = inner.getBoundingClientRect();
          if (ir.right > r.right + 0.5) found.push(`${name}: its ${inner.tagName.toLowerCase()} sticks out`);
        }
      }
    }
    return found;
  });
  assert.deepEqual(problems, [], `${what} at 1280 px`);
}

/** Signs in through the UI's form from node (no browser), as a mistyping admin would. */
async function failedSignInFromNode(base, username) {
  const form = await fetch(`${base}/ui/login`);
  const cookie = (form.headers.get('set-cookie') ?? '').split(';')[0];
  const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())?.[1];
  assert.ok(csrf, 'the sign-in page has no csrf field');
  const answer = await fetch(`${base}/ui/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { Cookie: cookie, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, username, password: 'not-it' }),
  });
  assert.equal(answer.status, 401, `the mistyped sign-in answered ${answer.status}`);
}

// ---- The flow -------------------------------------------------------------------------------

async function main() {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: build it with cargo build, or set CDP_AUTH_BIN`);
  assert.ok(existsSync(CHROMIUM), `no browser at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  console.log(`# binary ${BIN}`);
  console.log(`# temp dir ${tmp}`);

  let tenant;
  let admin;
  await step('set-up by CLI: a tenant and an admin', async () => {
    // Only serve and migrate make a new database; the other commands need one.
    execFileSync(BIN, ['migrate', '--database', database], { cwd: tmp, stdio: 'ignore' });
    tenant = cli('tenant', 'create', '--name', 'Acme', '--environment', 'cs', '--json');
    admin = cli('admin', 'create', '--username', 'ops', '--json');
    assert.equal(admin.username, 'ops');
    assert.ok(admin.password, 'admin create printed no password');
  });

  let base;
  await step('server starts on a free port', async () => {
    base = await startServer();
    console.log(`# server ${base}`);
  });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ baseURL: base, acceptDownloads: true });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  page = await context.newPage();
  const dialogs = [];
  page.on('dialog', (dialog) => { dialogs.push(dialog.message()); dialog.accept().catch(() => {}); });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    // Failed loads are checked by URL below, from the responses themselves.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${m.text()}`);
  });
  // Every error status the browser met, except those this flow expects: the refused sign-in
  // (401 on POST /ui/login) and the shown-once page reloaded (410, "Already shown").
  page.on('response', (r) => {
    const url = new URL(r.url());
    if (url.protocol === 'data:' || r.status() < 400) return;
    const method = r.request().method();
    if (r.status() === 401 && method === 'POST' && url.pathname === '/ui/login') return;
    if (r.status() === 410 && method === 'GET' && expectedGone.has(url.pathname)) return;
    pageErrors.push(`${method} ${url.pathname} answered ${r.status()}`);
  });

  await step('anonymous visit to /ui/instances lands on the sign-in page', async () => {
    await page.goto('/ui/instances');
    await expectPath('/ui/login');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.getByLabel('Username', { exact: true }).waitFor();
    await page.getByLabel('Password', { exact: true }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'the sign-in page shows the main nav');
  });

  await step('a wrong password is refused with the message', async () => {
    await signIn('ops', `${admin.password}-wrong`);
    await expectPath('/ui/login');
    await page.getByText('The username or password is incorrect.', { exact: true }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'signed in with a wrong password');
  });

  await step('sign in', async () => {
    await signIn('ops', admin.password);
    await expectPath('/ui/instances');
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const link of ['Instances', 'Add Instance', 'Tenants', 'Audit log']) {
      await nav.getByRole('link', { name: link, exact: true }).waitFor();
    }
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
  });

  const instances = [];
  const types = [['Tracker one', 'DW Tracker'], ['Profiles one', '360 Profiles'], ['WebTag one', 'WebTag']];
  let first;
  for (const [name, typeLabel] of types) {
    await step(`add a ${typeLabel} instance and log in with its shown-once credentials`, async () => {
      const inst = await addInstance(name, typeLabel);
      assert.equal(inst.authHost, base, `Authentication Host URL ${inst.authHost} is not the server ${base}`);
      assert.equal(inst.apiHost, base, `API Host URL ${inst.apiHost} is not the server ${base}`);
      secretsShown.push({ what: `the password of ${name}`, secret: inst.password });
      inst.token = await a1LoginOk(inst.authHost, inst.username, inst.password, name);
      instances.push(inst);
      if (!first) {
        first = inst;
        // Both Postman files of the first instance, from this shown-once page.
        const collection = await download('Postman collection', 'first.postman_collection.json');
        const environment = await download('Postman environment', 'first.postman_environment.json');
        assert.match(collection.suggested, /postman_collection\.json$/);
        assert.match(environment.suggested, /postman_environment\.json$/);
        assert.ok(Array.isArray(collection.json.item) && collection.json.item.length > 0, 'the collection has no requests');
        const env = Object.fromEntries(environment.json.values.map((v) => [v.key, v.value]));
        assert.equal(env.username, inst.username, 'the environment names another username');
        assert.equal(env.password, inst.password, 'the environment does not carry the shown password');
        assert.equal(env.auth_host_url, base);
        assert.equal(env.tenant_id, String(tenant.id));
        inst.downloads = { collection, environment };
        // The collection link needs the session: without its cookie the server refuses it.
        const collectionUrl = new URL(await page.getByRole('link', { name: 'Postman collection', exact: true }).getAttribute('href'), base);
        assert.equal(collectionUrl.pathname, `/postman/${inst.id}/collection.json`);
        const anonymous = await fetch(collectionUrl, { redirect: 'manual' });
        assert.equal(anonymous.status, 401, `${collectionUrl.pathname} without a session answered ${anonymous.status}`);
        // The page is the answer to a GET after the form's redirect: reloading it shows the
        // credentials never again, and creates nothing (the list below has three rows).
        const shownAt = pathOf(page.url());
        assert.match(shownAt, /^\/ui\/instances\/created\/[A-Za-z0-9_-]{22,}$/, `the credentials page is at ${page.url()}`);
        assert.ok(!page.url().includes(inst.password), 'the password is in the URL');
        expectedGone.add(shownAt);
        const reloaded = await page.reload();
        assert.equal(reloaded.status(), 410, `reloading the credentials page answered ${reloaded.status()}`);
        await page.getByRole('heading', { level: 1, name: 'Already shown' }).waitFor();
        await page.getByRole('navigation', { name: 'Main' }).waitFor();
        assert.equal(await page.getByLabel('Password', { exact: true }).count(), 0, 'the reloaded page has a Password field');
        await assertNoSecretsInPage('the reloaded credentials page');
      }
    });
  }

  await step('the instance list shows the three', async () => {
    await navTo('Instances', '/ui/instances');
    const rows = page.locator('main table tbody tr');
    assert.equal(await rows.count(), 3, 'the instance list does not have three rows');
    for (const inst of instances) {
      const row = rows.filter({ has: page.getByRole('link', { name: inst.name, exact: true }) });
      assert.equal(await row.count(), 1, `${inst.name} is not listed once`);
      const text = await row.innerText();
      assert.ok(text.includes(inst.typeLabel), `${inst.name}'s row does not say ${inst.typeLabel}: ${text}`);
      assert.ok(text.includes(inst.username), `${inst.name}'s row does not show ${inst.username}: ${text}`);
    }
    await assertNoSecretsInPage('the instance list');
  });

  await step('the first instance shows its token; revoking it in the UI kills it', async () => {
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/ui/instances/${first.id}`),
      page.getByRole('link', { name: first.name, exact: true }).click(),
    ]);
    await page.getByRole('heading', { level: 1, name: first.name }).waitFor();
    await assertNoSecretsInPage('the instance page');
    const headers = (await page.locator('main table thead th').allInnerTexts()).map((h) => h.trim());
    assert.deepEqual(headers.slice(0, 5), ['Prefix', 'Kind', 'Created', 'Expires', 'Last used'],
      `the tokens table has the columns ${headers.join(', ')}`);
    for (const button of ['Revoke all', 'Rotate password', 'Disable']) {
      await page.getByRole('button', { name: button, exact: true }).waitFor();
    }
    const prefix = first.token.slice(0, 8);
    const rows = page.locator('main table tbody tr');
    assert.equal(await rows.count(), 1, 'the first instance does not show exactly one token');
    const rowText = await rows.first().innerText();
    assert.ok(rowText.includes(prefix), `the token row does not show the prefix ${prefix}: ${rowText}`);
    assert.ok(!rowText.includes(first.token), 'the token row shows the whole token');
    // The instance page's own Postman environment is fetched from the server: no password.
    const envHref = await page.getByRole('link', { name: 'Postman environment', exact: true }).getAttribute('href');
    assert.equal(envHref, `/postman/${first.id}/environment.json`);
    const envResponse = await page.request.get(envHref);
    assert.equal(envResponse.status(), 200, `${envHref} answered ${envResponse.status()}`);
    const envJson = await envResponse.json();
    const envPassword = envJson.values.find((v) => v.key === 'password')?.value;
    assert.equal(envPassword, '', `the instance page's environment carries a password: ${envPassword}`);
    await Promise.all([
      page.waitForNavigation(),
      rows.first().getByRole('button', { name: `Revoke token ${prefix}`, exact: true }).click(),
    ]);
    await expectPath(`/ui/instances/${first.id}`);
    await page.getByText('No active tokens.').waitFor();
    assert.match(await page.getByRole('status').innerText(), /Token revoked/, 'no banner says the token was revoked');
    first.revokedPrefix = prefix;
    // Over HTTP: the old bearer is refused, and a login mints a new token.
    const revoke = await a1Revoke(first.authHost, first.token);
    assert.equal(revoke.status, 401, `DELETE /token with the revoked bearer answered ${revoke.status}: ${revoke.text}`);
    const again = await a1LoginOk(first.authHost, first.username, first.password, 'login after revoke');
    assert.notEqual(again, first.token, 'login after the revoke answered the revoked token');
    first.token = again;
  });

  await step('rotate the first instance\'s password in the UI', async () => {
    await page.reload();
    const dialogsBefore = dialogs.length;
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Rotate password', exact: true }).click(),
    ]);
    assert.equal(dialogs.length, dialogsBefore + 1, 'Rotate password asked for no confirmation');
    const rotated = await readCredentials('Password rotated');
    assert.equal(rotated.id, first.id);
    assert.equal(rotated.username, first.username);
    assert.notEqual(rotated.password, first.password, 'the rotated password is the old one');
    secretsShown.push({ what: `the rotated password of ${first.name}`, secret: rotated.password });
    const old = await a1Login(first.authHost, first.username, first.password);
    assert.equal(old.status, 401, `the old password still logs in (${old.status}): ${old.text}`);
    // README: rotating a password leaves the tokens valid; login answers the newest active one.
    const token = await a1LoginOk(first.authHost, first.username, rotated.password, 'login with the rotated password');
    assert.equal(token, first.token, 'the token from before the rotation is not the active one after it');
    first.password = rotated.password;
  });

  await step('the instance page after the rotation does not show the password', async () => {
    await Promise.all([
      page.waitForURL((u) => u.pathname === `/ui/instances/${first.id}`),
      page.getByRole('link', { name: 'Go to the instance' }).click(),
    ]);
    await assertNoSecretsInPage('the instance page');
  });

  await step('register the first instance\'s client keys (private_key_jwt) in the UI, then clear them', async () => {
    // A public key made here, as an integration would register its own.
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const { key_ops: _ops, ext: _ext, ...jwk } = await crypto.subtle.exportKey('jwk', pair.publicKey);
    const kid = 'ui-flow-key-1';
    await page.getByLabel(/JWK Set of the public keys/).fill(JSON.stringify({ keys: [{ ...jwk, kid }] }));
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Save', exact: true }).click(),
    ]);
    await expectPath(`/ui/instances/${first.id}`);
    assert.match(await page.getByRole('status').innerText(), /Client keys saved/, 'no banner says the keys were saved');
    const keys = page.locator('table', { has: page.getByRole('columnheader', { name: /thumbprint/i }) });
    assert.ok((await keys.innerText()).includes(kid), `the key table does not show ${kid}`);
    assert.equal(await keys.locator('tbody tr').count(), 1, 'not exactly one registered key');
    const dialogsBefore = dialogs.length;
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Clear keys', exact: true }).click(),
    ]);
    assert.equal(dialogs.length, dialogsBefore + 1, 'Clear keys asked for no confirmation');
    assert.match(await page.getByRole('status').innerText(), /Client keys removed/, 'no banner says the keys were removed');
    await page.getByText('No client keys: this instance authenticates with its password only.').waitFor();
  });

  await step('disable and enable the second instance in the UI', async () => {
    const second = instances[1];
    await page.goto(`/ui/instances/${second.id}`);
    await page.getByRole('heading', { level: 1, name: second.name }).waitFor();
    await assertNoSecretsInPage('the instance page');
    const dialogsBefore = dialogs.length;
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Disable', exact: true }).click(),
    ]);
    assert.equal(dialogs.length, dialogsBefore + 1, 'Disable asked for no confirmation');
    await page.getByText('Disabled', { exact: true }).waitFor();
    assert.match(await page.getByRole('status').innerText(), /Instance disabled/, 'no banner says the instance was disabled');
    // README: a disabled instance's password and tokens answer 403 instance_disabled.
    const refused = await a1Login(second.authHost, second.username, second.password);
    assert.equal(refused.status, 403, `a disabled instance's login answered ${refused.status}: ${refused.text}`);
    assert.equal(refused.body?.error, 'instance_disabled', `a disabled instance's login answered ${refused.text}`);
    const stopped = await a1Revoke(second.authHost, second.token);
    assert.equal(stopped.status, 403, `a disabled instance's token answered ${stopped.status}: ${stopped.text}`);
    assert.equal(JSON.parse(stopped.text).error, 'instance_disabled', `a disabled instance's token answered ${stopped.text}`);
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Enable', exact: true }).click(),
    ]);
    await page.getByText('Active', { exact: true }).waitFor();
    assert.match(await page.getByRole('status').innerText(), /Instance enabled/, 'no banner says the instance was enabled');
    // Enabled again, the same password and the same token work (login answers that token).
    const token = await a1LoginOk(second.authHost, second.username, second.password, 'login after enable');
    assert.equal(token, second.token, 'the token from before the disable is not the active one after enable');
  });

  await step('the WebTag instance\'s allowed origin, set in the UI, sends events from a real page; another origin is blocked by CORS', async () => {
    const webtag = instances[2];
    const profiles = instances[1];
    assert.equal(webtag.typeLabel, 'WebTag', `instances[2] is ${webtag.typeLabel}, not WebTag`);
    assert.equal(profiles.typeLabel, '360 Profiles', `instances[1] is ${profiles.typeLabel}, not 360 Profiles`);
    // Two shop sites on loopback: A will be allowed, B not.
    const shopA = await startShop();
    const shopB = await startShop();
    let shopContext;
    try {
      // The allowed origin, set in the UI.
      await page.goto(`/ui/instances/${webtag.id}`);
      await page.getByRole('heading', { level: 1, name: webtag.name }).waitFor();
      await page.getByRole('heading', { level: 2, name: 'Allowed origins' }).waitFor();
      const origins = page.getByLabel(/^Sites whose pages may send events/);
      assert.equal(await origins.inputValue(), '', `a new WebTag instance already allows ${await origins.inputValue()}`);
      await origins.fill(shopA.origin);
      await Promise.all([
        page.waitForNavigation(),
        page.getByRole('button', { name: 'Save origins', exact: true }).click(),
      ]);
      await expectPath(`/ui/instances/${webtag.id}`);
      assert.equal((await page.getByLabel(/^Sites whose pages may send events/).inputValue()).trim(), shopA.origin,
        'the origins field does not show the saved origin after the reload');
      await assertNoSecretsInPage('the instance page');

      // The browser key, from node, with the instance's credentials.
      const tokenResponse = await fetch(`${webtag.authHost}/token?scheme=a1webtag&action=create`, {
        method: 'POST',
        headers: { Authorization: basic(webtag.username, webtag.password) },
      });
      const tokenText = await tokenResponse.text();
      assert.equal(tokenResponse.status, 200, `POST /token?scheme=a1webtag&action=create answered ${tokenResponse.status}: ${tokenText}`);
      const accessKey = JSON.parse(tokenText).accessKey;
      assert.match(accessKey ?? '', /^[A-Za-z0-9_-]{43}$/, `no accessKey in ${tokenText}`);

      // A fresh browser context: no admin session cookie follows the pages to the shops.
      shopContext = await browser.newContext();
      shopContext.setDefaultTimeout(STEP_TIMEOUT_MS);
      shopContext.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
      const shopPage = await shopContext.newPage();
      const shopErrors = [];
      shopPage.on('pageerror', (e) => shopErrors.push(String(e)));
      shopPage.on('console', (m) => { if (m.type() === 'error') shopErrors.push(m.text()); });
      const tracker = `${base}/v2/${tenant.id}/dw/tracker?scheme=a1webtag&accessKey=${encodeURIComponent(accessKey)}`;
      const eventTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      const send = (sourceNumber) => shopPage.evaluate(async ({ url, record }) => {
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(record),
          });
          return { status: response.status, text: await response.text() };
        } catch (e) {
          return { rejected: `${e?.name}: ${e?.message}` };
        }
      }, { url: tracker, record: { SourceCustomerNumber: sourceNumber, Type: 'productBrowsed', Subtype: 'SKU-9', EventTimeStamp: eventTime } });

      // From the allowed origin: preflighted (JSON), then accepted.
      await shopPage.goto(`${shopA.origin}/`);
      assert.equal(await shopPage.title(), 'shop');
      const fromA = await send('V-1');
      assert.equal(fromA.rejected, undefined, `the fetch from the allowed origin ${shopA.origin} was rejected: ${fromA.rejected}`);
      assert.equal(fromA.status, 202, `the tracker answered the allowed origin ${fromA.status}: ${fromA.text}`);
      assert.deepEqual(JSON.parse(fromA.text), { accepted: 1 }, `the tracker answered the allowed origin ${fromA.text}`);
      assert.deepEqual(shopErrors, [], `the allowed origin's page logged errors`);

      // From another origin: the preflight is refused, so the browser's fetch rejects.
      await shopPage.goto(`${shopB.origin}/`);
      const fromB = await send('V-2');
      assert.ok(fromB.rejected, `the fetch from the disallowed origin ${shopB.origin} was not blocked: ${JSON.stringify(fromB)}`);
      assert.match(fromB.rejected, /^TypeError/, `the disallowed origin's fetch failed otherwise than by CORS: ${fromB.rejected}`);
      assert.ok(shopErrors.some((e) => /CORS/.test(e)), `the browser logged no CORS error for ${shopB.origin}: ${JSON.stringify(shopErrors)}`);
      // The same preflight from node: 403 and no Access-Control-Allow-Origin (and A's is allowed).
      for (const [origin, status, acao] of [[shopB.origin, 403, null], [shopA.origin, 204, shopA.origin]]) {
        const preflight = await fetch(tracker, {
          method: 'OPTIONS',
          headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
        });
        assert.equal(preflight.status, status, `the preflight from ${origin} answered ${preflight.status}`);
        assert.equal(preflight.headers.get('access-control-allow-origin'), acao,
          `the preflight from ${origin} answered Access-Control-Allow-Origin ${preflight.headers.get('access-control-allow-origin')}`);
      }

      // The event shows up in the 360 Profiles pull, on the webtag channel; B's never arrived.
      const customers = [];
      let next = `/v2/${tenant.id}/dw/a360/customers?limit=1000`;
      while (next) {
        const pull = await fetch(new URL(next, base), { headers: { Authorization: `Bearer ${profiles.token}` } });
        const pullText = await pull.text();
        assert.equal(pull.status, 200, `the 360 Profiles pull answered ${pull.status}: ${pullText}`);
        const body = JSON.parse(pullText);
        customers.push(...(body._embedded?.customers ?? []));
        next = body._links?.next?.href;
      }
      const bySource = (n) => customers.filter((c) => (c.sourceRecords ?? []).some((r) => r.sourceCustomerNumber === n));
      const v1 = bySource('V-1');
      assert.equal(v1.length, 1, `the pull does not hold one customer with source number V-1: ${JSON.stringify(customers)}`);
      assert.ok((v1[0].events ?? []).some((e) => e.channel === 'webtag' && e.type === 'productBrowsed'
        && e.subtype === 'SKU-9' && e.eventTimeStamp === eventTime),
      `V-1 has no productBrowsed SKU-9 event at ${eventTime} on the webtag channel: ${JSON.stringify(v1[0].events)}`);
      assert.deepEqual(bySource('V-2'), [], 'the disallowed origin\'s event reached the pull');
    } finally {
      if (shopContext) await shopContext.close().catch(() => {});
      await Promise.all([shopA.close(), shopB.close()]);
    }
  });

  await step('the audit log shows instance.created, token.revoked, instance.password_rotated, sign_in.failed', async () => {
    await navTo('Audit log', '/ui/audit');
    const wanted = ['instance.created', 'token.revoked', 'instance.password_rotated', 'sign_in.failed', 'admin.signed_in'];
    let actions = [];
    const deadline = Date.now() + 10_000;
    for (;;) {
      actions = await auditActions();
      if (wanted.every((a) => actions.includes(a)) || Date.now() > deadline) break;
      await page.waitForTimeout(500);
      await page.reload();
    }
    const missing = wanted.filter((a) => !actions.includes(a));
    assert.deepEqual(missing, [], `the audit log lacks ${missing.join(', ')}; it shows ${[...new Set(actions)].join(', ')}`);
    assert.equal(actions.filter((a) => a === 'instance.created').length, 3, 'not three instance.created entries');
    const rows = await auditRows();
    const has = (what, pred) => assert.ok(rows.some(pred), `the audit log has no ${what}: ${JSON.stringify(rows)}`);
    has('sign_in.failed by the admin ops (the wrong UI password)', (r) => r.action === 'sign_in.failed' && r.actor === 'ops');
    has(`token.revoked by ops of instance ${first.id} naming the prefix ${first.revokedPrefix}`, (r) => r.action === 'token.revoked'
      && r.actor === 'ops' && r.instance === first.id && r.detail.includes(first.revokedPrefix));
    has(`instance.password_rotated of instance ${first.id} by ops`, (r) => r.action === 'instance.password_rotated'
      && r.actor === 'ops' && r.instance === first.id);
    for (const inst of instances) {
      has(`instance.created of ${inst.name}`, (r) => r.action === 'instance.created' && r.instance === inst.id && r.detail.includes(inst.username));
    }
    await assertNoSecretsInPage('the audit log');

    // The filter form: only instance.password_rotated, for the first instance.
    await page.getByLabel('Action', { exact: true }).selectOption('instance.password_rotated');
    await page.getByLabel('Instance id or username', { exact: true }).fill(first.username);
    await Promise.all([
      page.waitForNavigation(),
      page.getByRole('button', { name: 'Filter', exact: true }).click(),
    ]);
    const filtered = await auditActions();
    assert.deepEqual(filtered, ['instance.password_rotated'], `the filtered audit log shows ${filtered.join(', ')}`);
    const actor = await page.locator('table.audit tbody tr td:nth-child(2)').first().innerText();
    assert.ok(actor.includes('ops'), `the rotation's actor is ${actor}, not the admin ops`);
    await assertNoSecretsInPage('the filtered audit log');
  });

  await step('the tenant\'s OAuth token format, chosen in the UI, makes /oauth/token answer a JWT, then opaque again', async () => {
    const oauthToken = async (what) => {
      const response = await fetch(`${first.authHost}/oauth/token`, {
        method: 'POST',
        headers: { Authorization: basic(first.username, first.password), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const text = await response.text();
      assert.equal(response.status, 200, `${what}: /oauth/token answered ${response.status}: ${text}`);
      return JSON.parse(text).access_token;
    };
    const choose = async (label) => {
      await navTo('Tenants', '/ui/tenants');
      await page.getByLabel('OAuth token format for Acme', { exact: true }).selectOption({ label });
      await Promise.all([
        page.waitForNavigation(),
        page.getByRole('button', { name: 'Save the OAuth token format of Acme', exact: true }).click(),
      ]);
      await expectPath('/ui/tenants');
      assert.match(await page.getByRole('status').innerText(), /OAuth token format saved/, 'no banner says the format was saved');
      const shown = await page.getByLabel('OAuth token format for Acme', { exact: true }).evaluate((s) => s.selectedOptions[0].text);
      assert.equal(shown, label, 'the tenants page does not show the chosen format');
    };
    await choose('JWT');
    const jwt = await oauthToken('after choosing JWT');
    const parts = jwt.split('.');
    assert.equal(parts.length, 3, `the token is not a JWT: ${jwt}`);
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    assert.equal(header.typ, 'at+jwt', `the JWT header is ${JSON.stringify(header)}`);
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
    assert.equal(claims.client_id, first.username, `the JWT is for ${claims.client_id}`);
    await choose('Default (opaque)');
    const opaque = await oauthToken('after choosing Default');
    assert.ok(!opaque.includes('.'), `after Default the token is still a JWT: ${opaque}`);
  });

  // A fresh instance just for Postman, its files downloaded from its shown-once page.
  let postman;
  await step('add an instance for Postman and download its collection and environment', async () => {
    postman = await addInstance('Postman run', 'WebTag');
    secretsShown.push({ what: 'the password of the Postman instance', secret: postman.password });
    postman.collection = await download('Postman collection', 'postman.postman_collection.json');
    postman.environment = await download('Postman environment', 'postman.postman_environment.json');
    const env = Object.fromEntries(postman.environment.json.values.map((v) => [v.key, v.value]));
    assert.equal(env.password, postman.password, 'the environment does not carry the shown password');
    await navTo('Instances', '/ui/instances');
    await assertNoSecretsInPage('the instance list');
  });

  const longNames = [
    'Nightly loyalty-programme export to the Northwind data warehouse (EU region, production)',
    'nightly_loyalty_programme_export_northwind_dwh_eu_production_v2',
  ];
  await step('every page fits a 390 px phone, with long names', async () => {
    cli('tenant', 'create', '--name', 'Northwind Retail Group Europe, Loyalty and CRM (production)', '--environment', 'prod', '--json');
    await failedSignInFromNode(base, 'someone.who.mistyped.their.email.address@northwind-retail-group.example');
    const phone = await browser.newContext({ baseURL: base, storageState: await context.storageState(), ...PHONE });
    phone.setDefaultTimeout(STEP_TIMEOUT_MS);
    const p = await phone.newPage();
    try {
      for (const name of longNames) {
        await p.goto('/ui/instances/new');
        await assertFitsWidth(p, 'Add Instance');
        await p.getByLabel('Name', { exact: true }).fill(name);
        await p.getByLabel('Instance Type', { exact: true }).selectOption({ label: 'DW Tracker' });
        await p.getByLabel('Tenant', { exact: true }).selectOption({ index: 0 });
        await Promise.all([p.waitForNavigation(), p.getByRole('button', { name: 'Save', exact: true }).click()]);
        await p.getByRole('heading', { level: 1, name: 'Instance created' }).waitFor();
        await assertFitsWidth(p, 'the credentials page');
        secretsShown.push({ what: `the password of ${name}`, secret: await p.getByLabel('Password', { exact: true }).inputValue() });
        const reloaded = await p.reload();
        assert.equal(reloaded.status(), 410);
        await assertFitsWidth(p, 'the "Already shown" page');
      }
      const pages = [
        ['the instance list', '/ui/instances'],
        ['the instance page (with tokens)', `/ui/instances/${first.id}`],
        ['the tenants page', '/ui/tenants'],
        ['the audit log', '/ui/audit'],
        ['the administrators page', '/ui/admins'],
        ['the "Not found" page', '/ui/no-such-page'],
        ['the "Cannot do that" page', '/ui/audit?action=no.such.action'],
      ];
      for (const [what, path] of pages) {
        await p.goto(path);
        await p.getByRole('navigation', { name: 'Main' }).waitFor();
        await assertFitsWidth(p, what);
      }
      await p.getByRole('heading', { level: 1, name: 'Cannot do that' }).waitFor();
    } catch (e) {
      await p.screenshot({ path: join(downloads, 'phone.png'), fullPage: true }).catch(() => {});
      throw e;
    } finally {
      await phone.close();
    }
    // Signed out: the sign-in page.
    const anonymous = await browser.newContext({ baseURL: base, ...PHONE });
    try {
      const p2 = await anonymous.newPage();
      await p2.goto('/ui/login');
      await p2.getByRole('heading', { name: 'Sign in' }).waitFor();
      await assertFitsWidth(p2, 'the sign-in page');
    } finally {
      await anonymous.close();
    }
  });

  await step('every table column is readable at 1280 px, with long names and details', async () => {
    const laptop = await browser.newContext({ baseURL: base, storageState: await context.storageState(), ...LAPTOP });
    laptop.setDefaultTimeout(STEP_TIMEOUT_MS);
    const p = await laptop.newPage();
    try {
      // Failed sign-ins are written a moment later.
      const deadline = Date.now() + 10_000;
      for (;;) {
        await p.goto('/ui/audit');
        const audit = await p.locator('table.audit').innerText();
        // A name that is not one of ours is shown as its keyed fingerprint, never as typed.
        assert.ok(!audit.includes('someone.who.mistyped'), 'the audit log shows a name that is not ours as typed');
        const missing = [longNames[1], 'unknown:'].filter((t) => !audit.includes(t.slice(0, 20)));
        if (missing.length === 0) break;
        assert.ok(Date.now() < deadline, `the audit log does not show ${missing.join(', ')}`);
        await p.waitForTimeout(300);
      }
      for (const [what, path] of [
        ['the instance list', '/ui/instances'],
        ['the instance page', `/ui/instances/${first.id}`],
        ['the tenants page', '/ui/tenants'],
        ['the audit log', '/ui/audit'],
      ]) {
        await p.goto(path);
        await assertTablesReadable(p, what);
      }
      // The favicon the pages link to, and the one browsers ask for on their own.
      for (const icon of ['/ui/assets/favicon.svg', '/favicon.ico']) {
        const answer = await p.request.get(icon);
        assert.equal(answer.status(), 200, `${icon} answered ${answer.status()}`);
        assert.equal(answer.headers()['content-type'], 'image/svg+xml');
      }
      assert.equal(await p.locator('link[rel="icon"]').getAttribute('href'), '/ui/assets/favicon.svg');
    } catch (e) {
      await p.screenshot({ path: join(downloads, 'laptop.png'), fullPage: true }).catch(() => {});
      throw e;
    } finally {
      await laptop.close();
    }
  });

  await step('sign out lands on the sign-in page, and the old session is dead', async () => {
    const session = (await context.cookies()).find((c) => c.name === 'cdp_auth_session');
    assert.ok(session, 'no cdp_auth_session cookie while signed in');
    const cookie = `${session.name}=${session.value}`;
    const before = await fetch(`${base}/ui/instances`, { headers: { Cookie: cookie }, redirect: 'manual' });
    assert.equal(before.status, 200, `the session cookie does not work from node (${before.status})`);
    await Promise.all([
      page.waitForURL((u) => u.pathname === '/ui/login'),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.goto('/ui/instances');
    await expectPath('/ui/login');
    const after = await fetch(`${base}/ui/instances`, { headers: { Cookie: cookie }, redirect: 'manual' });
    assert.ok(after.status >= 300 && after.status < 400 && pathOf(new URL(after.headers.get('location'), base).href) === '/ui/login',
      `the signed-out session still opens /ui/instances (${after.status} ${after.headers.get('location')})`);
  });

  await step('no script errors nor unexpected error statuses in the pages', async () => {
    assert.deepEqual(pageErrors, []);
  });

  await browser.close();
  browser = undefined;
  page = undefined;

  await step('newman runs the downloaded collection and environment, unedited, against the server', async () => {
    const summary = await new Promise((resolvePromise, reject) => {
      newman.run({
        collection: postman.collection.path,
        environment: postman.environment.path,
        reporters: ['cli'],
        timeout: 60_000,
        timeoutRequest: 10_000,
      }, (err, s) => (err ? reject(err) : resolvePromise(s)));
    });
    const stats = summary.run.stats;
    const failures = summary.run.failures.map((f) => `${f.source?.name ?? '?'}: ${f.error?.name} ${f.error?.message}`);
    console.log(`# newman: requests ${stats.requests.total} (${stats.requests.failed} failed), ` +
      `assertions ${stats.assertions.total} (${stats.assertions.failed} failed), ` +
      `test scripts ${stats.testScripts.total} (${stats.testScripts.failed} failed)`);
    assert.equal(summary.run.error ?? null, null, `newman stopped: ${summary.run.error}`);
    assert.deepEqual(failures, [], 'newman reported failures');
    assert.equal(stats.requests.total, postman.collection.json.item.length, 'newman did not send every request');
    assert.equal(stats.requests.failed, 0);
    assert.ok(stats.assertions.total > 0, 'newman ran no assertion');
    assert.equal(stats.assertions.failed, 0);
    assert.equal(stats.testScripts.failed, 0);
    // The walk-through ends with "Revoke All": the Postman instance has no token left.
    const left = await a1Login(base, postman.username, postman.password);
    assert.equal(left.status, 200, 'the Postman instance cannot log in after the run');
  });
}

async function saveArtifacts(error) {
  try {
    mkdirSync(ARTIFACTS, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const base = join(ARTIFACTS, `failure-${stamp}`);
    writeFileSync(`${base}.txt`, `step: ${currentStep}\n\n${error?.stack ?? error}\n`);
    writeFileSync(`${base}.server.log`, serverLog);
    cpSync(downloads, `${base}.downloads`, { recursive: true });
    if (page && !page.isClosed()) {
      writeFileSync(`${base}.html`, await page.content());
      await page.screenshot({ path: `${base}.png`, fullPage: true });
      console.error(`# page ${page.url()}`);
    }
    console.error(`# artifacts: ${base}.{txt,server.log,html,png,downloads/}`);
  } catch (e) {
    console.error(`# could not save the artifacts: ${e}`);
  }
}

// Stopped from outside: take the server down with us.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
    process.exit(130);
  });
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`not ok ${passed + 1} - ${currentStep}`);
  console.error(error?.stack ?? error);
  await saveArtifacts(error);
} finally {
  if (browser) await browser.close().catch(() => {});
  await stopServer();
  if (process.env.KEEP_TMP) console.log(`# kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
console.log(`# ${failed ? 'FAILED' : 'PASSED'} in ${elapsed()}`);
// A closing line in the plain "N passed, N failed" form that CI logs are read for.
console.log(`ui-flow: ${passed} passed, ${failed ? 1 : 0} failed`);
process.exitCode = failed ? 1 : 0;
