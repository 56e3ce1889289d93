#!/usr/bin/env node
// The WebTag tracking pixel from a real browser: pages on loopback origins of their own load
// `<img src=".../dw/tracker?scheme=a1webtag&accessKey=…">` in headless Chromium, which sends
// no Origin for an image, only a Referer. The allowed site's pixel is stored, another site's
// is refused, a page with `Referrer-Policy: no-referrer` is refused too (it sends neither
// header), and that page's documented alternative, `navigator.sendBeacon`, is stored. What was
// stored is read back through a 360 Profiles pull.
//
//   npm ci --prefix tests/browser && node tests/browser/webtag-pixel.mjs
//
// Environment: CDP_AUTH_BIN (default ../../target/debug/cdp-auth), CHROMIUM_PATH (default
// /usr/bin/chromium), KEEP_TMP=1 to keep the temporary folder. Exits non-zero on failure,
// printing the server's log.

import { spawn, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const here = dirname(fileURLToPath(import.meta.url));
const BIN = resolve(process.env.CDP_AUTH_BIN || join(here, '../../target/debug/cdp-auth'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const tmp = mkdtempSync(join(tmpdir(), 'cdp-auth-pixel-'));
const database = `sqlite://${join(tmp, 'db.sqlite')}`;

let server;
let serverLog = '';
let passed = 0;

function ok(name) {
  passed += 1;
  console.log(`ok ${passed} - ${name}`);
}

function cli(...args) {
  return JSON.parse(execFileSync(BIN, [...args, '--database', database], {
    cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
  }));
}

function startServer() {
  return new Promise((resolvePromise, reject) => {
    server = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--database', database], {
      cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => reject(new Error('the server did not start within 30 s')), 30_000);
    server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the server exited (${code})`)); });
    server.stderr.on('data', (chunk) => { serverLog += chunk; });
    createInterface({ input: server.stdout }).on('line', (line) => {
      serverLog += `${line}\n`;
      const match = /^listening on (http:\/\/\S+)$/.exec(line.trim());
      if (match) { clearTimeout(timer); resolvePromise(match[1]); }
    });
  });
}

/** A site on its own loopback origin whose pages `page(origin)` writes. */
function startSite(pages) {
  return new Promise((resolvePromise) => {
    const site = createServer((req, res) => {
      const body = pages[new URL(req.url, 'http://x').pathname];
      res.writeHead(body ? 200 : 404, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(body ?? 'not found');
    });
    site.listen(0, '127.0.0.1', () => resolvePromise({
      origin: `http://127.0.0.1:${site.address().port}`,
      close: () => new Promise((r) => { site.closeAllConnections(); site.close(() => r()); }),
    }));
  });
}

function basic(username, password) {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

async function json(response, what) {
  const text = await response.text();
  assert.ok(response.ok, `${what} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

const eventTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
const fields = (number) => new URLSearchParams({
  SourceCustomerNumber: number, Type: 'productBrowsed', Subtype: 'SKU-7', EventTimeStamp: eventTime,
}).toString();

// Pages are written once the tracker's address is known; the sites start first, because the
// allowed origin is given when the instance is created.
const pagesA = {};
const pagesB = {};
const siteA = await startSite(pagesA);
const siteB = await startSite(pagesB);
let browser;
try {
  // Only serve and migrate make a new database; the other commands need one.
  execFileSync(BIN, ['migrate', '--database', database], { cwd: tmp, stdio: 'ignore' });
  const tenant = cli('tenant', 'create', '--name', 'Pixel Shop', '--environment', 'cs', '--json');
  const tag = cli('instance', 'create', '--tenant', tenant.id, '--name', 'Shop tag', '--type', 'webtag',
    '--origin', siteA.origin, '--json');
  const profiles = cli('instance', 'create', '--tenant', tenant.id, '--name', 'Pull', '--type', 'profiles-360', '--json');
  const base = await startServer();
  ok(`server on ${base}, site A ${siteA.origin} allowed, site B ${siteB.origin} not`);

  const key = await json(await fetch(`${base}/token?scheme=a1webtag&action=create`, {
    method: 'POST', headers: { Authorization: basic(tag.username, tag.password) },
  }), 'the WebTag token create');
  const tracker = `${base}/v2/${tenant.id}/dw/tracker?scheme=a1webtag&accessKey=${encodeURIComponent(key.accessKey)}`;
  const pixelPage = (number, extraHead = '') => `<!doctype html><html><head>${extraHead}<title>shop</title></head>`
    + `<body><img alt="" width="1" height="1" src="${tracker}&${fields(number)}"></body></html>`;
  pagesA['/products/red-shoes'] = pixelPage('P-1');
  pagesB['/products/red-shoes'] = pixelPage('P-2');
  pagesA['/private'] = pixelPage('P-3', '<meta name="referrer" content="no-referrer">');
  pagesA['/beacon'] = `<!doctype html><html><head><meta name="referrer" content="no-referrer"><title>shop</title></head><body><script>
    document.title = String(navigator.sendBeacon(${JSON.stringify(tracker)}, JSON.stringify({
      SourceCustomerNumber: 'P-4', Type: 'productBrowsed', Subtype: 'SKU-7', EventTimeStamp: ${JSON.stringify(eventTime)} })));
  </script></body></html>`;

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext();
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();

  /** Opens `url` and returns the tracker's answer to the request the page made. */
  async function visit(url) {
    const sent = page.waitForRequest((r) => r.url().startsWith(`${base}/v2/`));
    await page.goto(url);
    const request = await sent;
    // A refusal is JSON, which the browser's opaque-response blocking hides from an image
    // load (no status to see): the pull below shows it stored nothing.
    const response = await request.response().catch(() => null);
    return {
      status: response?.status(),
      type: response?.headers()['content-type'],
      failure: request.failure()?.errorText,
      headers: request.headers(),
    };
  }

  const fromA = await visit(`${siteA.origin}/products/red-shoes`);
  assert.equal(fromA.headers.origin, undefined, 'Chromium sent an Origin with the image: the test no longer tests the Referer path');
  assert.ok(fromA.headers.referer?.startsWith(siteA.origin), `the pixel carried Referer ${fromA.headers.referer}`);
  assert.equal(fromA.status, 202, `the allowed site's pixel was not accepted (${fromA.failure})`);
  assert.equal(fromA.type, 'image/gif', 'the pixel was not answered with an image');
  const loaded = await page.evaluate(() => { const img = document.images[0]; return img.complete && img.naturalWidth; });
  assert.equal(loaded, 1, 'the pixel did not load as a 1x1 image');
  ok('the allowed site\'s <img> pixel (Referer, no Origin) is accepted: 202 and a 1x1 GIF');

  const fromB = await visit(`${siteB.origin}/products/red-shoes`);
  assert.notEqual(fromB.status, 202, 'another site\'s pixel was accepted');
  ok(`another site's pixel is refused (${fromB.status ?? fromB.failure})`);

  const hidden = await visit(`${siteA.origin}/private`);
  assert.ok(!hidden.headers.referer, `a no-referrer page sent Referer ${hidden.headers.referer}`);
  assert.notEqual(hidden.status, 202, 'a pixel with neither Origin nor Referer was accepted');
  ok(`a no-referrer page's pixel (neither header) is refused (${hidden.status ?? hidden.failure})`);

  const beacon = await visit(`${siteA.origin}/beacon`);
  assert.equal(await page.title(), 'true', 'sendBeacon did not queue the event');
  assert.equal(beacon.status, 202, `the no-referrer page's sendBeacon was not accepted (${beacon.failure})`);
  ok('the same no-referrer page\'s navigator.sendBeacon is accepted: 202');

  const login = await json(await fetch(`${base}/authentication?action=login`, {
    method: 'POST', headers: { Authorization: basic(profiles.username, profiles.password) },
  }), 'the 360 Profiles login');
  const pull = await json(await fetch(`${base}/v2/${tenant.id}/dw/a360/customers?limit=100`, {
    headers: { Authorization: `Bearer ${login.access_token}` },
  }), 'the pull');
  const numbers = (pull._embedded?.customers ?? [])
    .flatMap((c) => (c.sourceRecords ?? []).map((r) => r.sourceCustomerNumber)).sort();
  assert.deepEqual(numbers, ['P-1', 'P-4'], `the pull holds ${JSON.stringify(pull)}`);
  const customer = pull._embedded.customers.find((c) => c.sourceRecords.some((r) => r.sourceCustomerNumber === 'P-1'));
  assert.ok(customer.events.some((e) => e.channel === 'webtag' && e.type === 'productBrowsed' && e.eventTimeStamp === eventTime),
    `P-1's event is not stored: ${JSON.stringify(customer.events)}`);
  ok('the pull holds the pixel\'s and the beacon\'s events, and none of the refused ones');
  console.log(`${passed} passed, 0 failed`);
} catch (error) {
  console.error(`not ok ${passed + 1} - ${error.stack ?? error}`);
  console.error(`---- server log ----\n${serverLog}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  await Promise.all([siteA.close(), siteB.close()]);
  if (server && server.exitCode === null) server.kill('SIGTERM');
  if (!process.env.KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
}
