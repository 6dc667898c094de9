/**
 * A real browser for the console tests: Debian's Chromium at /usr/bin/chromium driven by
 * playwright-core. Nothing downloads a browser; a missing Chromium fails the tests loudly
 * (.ci/run installs it with apt). Each page records CSP violations, uncaught errors and console
 * errors, which the tests assert are absent.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.USAGEDB_CHROMIUM ?? '/usr/bin/chromium';
export const SCREENSHOTS = join(import.meta.dirname, 'screenshots');

const ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  /** A new tab (own sessionStorage) with problem recording. */
  page(viewport?: { width: number; height: number }): Promise<Watched>;
  close(): Promise<void>;
}

export interface Watched {
  readonly page: Page;
  /** CSP violations, page errors and console errors seen so far (an unknown-key 401 probe is expected, not a problem). */
  problems(): Promise<string[]>;
}

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does it) or set USAGEDB_CHROMIUM`);
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  const profile = mkdtempSync(join(tmpdir(), 'usagedb-console-chromium-'));
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    acceptDownloads: true,
    viewport: { width: 1366, height: 900 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  return {
    async page(viewport) {
      const page = await context.newPage();
      if (viewport !== undefined) await page.setViewportSize(viewport);
      const seen: string[] = [];
      await page.addInitScript(
        "document.addEventListener('securitypolicyviolation', (e) => { (window.__csp ??= []).push(e.violatedDirective + ' ' + e.blockedURI); });",
      );
      page.on('pageerror', (e) => seen.push(`pageerror: ${e.message}`));
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        // The console probes /v1/whoami without a key first; the browser logs that 401.
        if (/status of 401/.test(m.text())) return;
        seen.push(`console: ${m.text()}`);
      });
      return {
        page,
        async problems() {
          const csp = (await page.evaluate('window.__csp ?? []')) as string[];
          return [...seen, ...csp.map((c) => `csp: ${c}`)];
        },
      };
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage });
}
