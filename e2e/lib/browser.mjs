// Launches Debian's Chromium through playwright-core (which downloads no
// browser of its own) with the flags this machine needs, and records every
// console error and uncaught exception of the pages it opens.

import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

// Chromium runs as root here, hence no sandbox. The network is closed to
// anything but loopback, so every background connection to Google's
// services is turned off too: they would fail, slowly, at every start.
// Playwright gives each launch a fresh, empty user-data-dir of its own (and
// refuses one passed in args), so no profile state leaks between runs.
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
}

/**
 * Opens a page whose console errors and page errors go into `problems`.
 * Only requests to 127.0.0.1 are let through: the test talks to nothing else.
 */
export async function openPage(browser, viewport, problems) {
  const context = await browser.newContext({ viewport });
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    (route) => {
      problems.push(`request to another host: ${route.request().url()}`);
      return route.abort();
    },
  );
  const page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()} (${msg.location().url})`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  return page;
}
