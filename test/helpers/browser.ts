/**
 * Real headless Chromium for the browser tests, driven with `playwright-core` (which downloads
 * nothing: it drives the system's Chromium). A missing Chromium fails the suite with the command
 * that installs it; it is never skipped.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type ConsoleMessage, type Page } from 'playwright-core';

/** Debian's Chromium; `CHROMIUM_PATH` points elsewhere (another distribution, a dev machine). */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots go (`.tmp/` is git-ignored). */
export const SCREENSHOT_DIR = path.resolve('.tmp/screenshots');

/** Phone viewport used for the responsive checks (iPhone 12–15 class). */
export const PHONE = { width: 390, height: 844 } as const;

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  // Without these Chromium reaches out to Google services, which this machine cannot reach.
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch headless Chromium; throws (never skips) when the binary is missing. */
export async function launchBrowser(executablePath: string = CHROMIUM_PATH): Promise<Browser> {
  if (!existsSync(executablePath)) {
    throw new Error(
      `Chromium not found at ${executablePath}: the browser tests need it. ` +
        'Install it with `apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 15_000 });
}

/** Console errors, failed requests and uncaught page errors, collected for a final assertion. */
export function watchPage(page: Page): { readonly problems: string[] } {
  const problems: string[] = [];
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  return { problems };
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Save a full-page screenshot to `.tmp/screenshots/<name>.png` and check it is a non-empty
 * PNG; returns the path and the image size read from its IHDR chunk.
 */
export async function screenshot(page: Page, name: string): Promise<{ path: string; width: number; height: number; bytes: number }> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const png = await readFile(file);
  if (png.length < 100 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new Error(`${file} is not a PNG (${png.length} bytes)`);
  }
  return { path: file, width: png.readUInt32BE(16), height: png.readUInt32BE(20), bytes: png.length };
}
