// Playwright drives Debian's Chromium (/usr/bin/chromium, installed by scripts/setup-web.sh)
// against the real server, which `webServer` starts on the example model with a fresh database
// and free ports, and stops at the end. Never a browser downloaded by Playwright.
import { defineConfig } from '@playwright/test';
import { ADMIN, SERVER_BINARY, serverEnvironment } from './tests/support.mjs';

const env = await serverEnvironment();

export default defineConfig({
  testDir: './tests',
  // One server for the whole run; tests change shared state (users, log level, trial), so
  // they run one at a time in a fixed order.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 15_000 },
  reporter: [['list']],
  outputDir: './test-results/artifacts',
  use: {
    baseURL: env.adminUrl,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    },
  },
  webServer: {
    command: [
      SERVER_BINARY,
      '--model', '../examples/objectbox-model.json',
      '--db-directory', env.dbDirectory,
      '--bind', env.syncUrl,
      '--admin-bind', env.adminUrl,
      '--unsecured-no-authentication',
      '--admin-user', ADMIN.user,
      '--trial-days', '30',
    ].map((a) => JSON.stringify(a)).join(' '),
    env: { SYNC_SERVER_ADMIN_PASSWORD: ADMIN.password },
    url: `${env.adminUrl}/api/health`,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: 60_000,
  },
});
