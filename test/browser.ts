/**
 * Real Chromium for tests (Debian's `chromium`, driven by playwright-core; never downloaded).
 * `.ci/run` installs it with apt-get; elsewhere tests that need it are skipped with this reason.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.LEASEHOLD_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** Why browser tests cannot run here, or false when they can. */
export const noChromium: string | false = existsSync(CHROMIUM)
  ? false
  : `no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set LEASEHOLD_CHROMIUM)`;

export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}
