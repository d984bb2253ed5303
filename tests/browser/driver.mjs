// A Playwright (core) driver the Python tests talk to over stdin/stdout, one JSON object a line.
//
// Request:  {"id": 1, "op": "...", ...}      Reply: {"id": 1, "result": ...} or {"id": 1, "error": "..."}
//
//   launch   {executablePath}                 start Chromium (Debian's; Playwright downloads nothing)
//   open     {name, url, viewport?}           a new browser context (its own storage: one device) and page
//   page     {name, method, args}             page[method](...args), e.g. click, fill, waitForFunction
//   context  {name, method, args}             the page's context[method](...args), e.g. setOffline
//   logs     {name}                           console messages and page errors seen so far
//   close    {}                               close the browser and exit
//
// The Python side bounds every request with its own timeout; each Playwright call also carries one.
import { createInterface } from 'node:readline';

import { chromium } from 'playwright-core';

let browser;
const pages = new Map();

const jsonable = (value) => {
  if (value === undefined || value === null) return null;
  if (Buffer.isBuffer(value)) return { bytes: value.length };
  if (typeof value?.jsonValue === 'function') return value.jsonValue();
  if (typeof value === 'object' && !Array.isArray(value) && value.constructor !== Object) return String(value);
  return value;
};

const entry = (name) => {
  const found = pages.get(name);
  if (!found) throw new Error(`no page named ${name}`);
  return found;
};

const ops = {
  launch: async ({ executablePath }) => {
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
    return browser.version();
  },
  open: async ({ name, url, viewport }) => {
    const context = await browser.newContext({ viewport: viewport ?? { width: 720, height: 760 } });
    const page = await context.newPage();
    const logs = [];
    page.on('console', (message) => logs.push(`${message.type()}: ${message.text()}`));
    page.on('pageerror', (error) => logs.push(`pageerror: ${error.message}`));
    pages.set(name, { context, page, logs });
    await page.goto(url);
    return null;
  },
  page: async ({ name, method, args = [] }) => jsonable(await entry(name).page[method](...args)),
  context: async ({ name, method, args = [] }) => jsonable(await entry(name).context[method](...args)),
  logs: async ({ name }) => entry(name).logs,
  close: async () => {
    await browser?.close();
    setImmediate(() => process.exit(0));
    return null;
  },
};

const reply = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { id, op, ...params } = JSON.parse(line);
  // Requests run concurrently: a test may wait on one page while it acts on another.
  void (async () => {
    try {
      if (!ops[op]) throw new Error(`unknown op ${op}`);
      reply({ id, result: await ops[op](params) });
    } catch (error) {
      reply({ id, error: String(error?.stack ?? error) });
    }
  })();
}
await browser?.close();
