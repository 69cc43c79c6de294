// Debian's Chromium, headless, driven through playwright-core (no browser download): pages are
// opened from file:// and every request the page makes is recorded.
import { chromium, type Browser, type Page } from 'playwright-core';
import { findExecutable } from './proc.js';

const INSTALL_HINT = 'apt-get install -y chromium (npm test installs it: tools/cli.ts setup --test-deps)';

export interface OpenedPage {
  page: Page;
  /** URLs the page requested (the document itself included). */
  requests: string[];
}

export interface BrowserHandle {
  open(url: string, viewport: { width: number; height: number }): Promise<OpenedPage>;
  close(): Promise<void>;
}

export async function startBrowser(): Promise<BrowserHandle> {
  const exe = (await findExecutable('chromium')) ?? (await findExecutable('chromium-browser'));
  if (!exe) throw new Error(`chromium not found on PATH; install it with: ${INSTALL_HINT}`);
  // --no-sandbox: tests run as root in CI containers, where Chromium's sandbox cannot start.
  const browser: Browser = await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
  return {
    async open(url, viewport) {
      const page = await browser.newPage({ viewport, javaScriptEnabled: true });
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
      return { page, requests };
    },
    close: () => browser.close(),
  };
}
