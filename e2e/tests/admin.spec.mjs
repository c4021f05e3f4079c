// The operator pages: login, sync trial, status and the log level, sync statistics with real
// connected clients, users, sync history and log events. Tests run in file order against one
// server (see playwright.config.mjs): the trial is accepted before clients connect.
import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import {
  ADMIN, clientDir, consoleErrors, login, screenshot, syncClient, watchingClient,
} from './support.mjs';

/// Console errors of the app itself. The browser also reports every HTTP error answer as
/// "Failed to load resource" (the 401 of the session check before login, refusals these tests
/// provoke on purpose); those answers are checked in the page instead.
function appErrors(page) {
  const errors = consoleErrors(page);
  return {
    get list() {
      return errors.filter((e) => !e.startsWith('Failed to load resource'));
    },
  };
}

/// Sets the phone width, saves a screenshot NAME-phone, and goes back to the laptop width.
async function phoneScreenshot(page, name) {
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('a wrong password is refused in words; the right one logs in', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('User').fill(ADMIN.user);
  await page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong user name or password');
  await expect(page.locator('nav.sidebar')).toHaveCount(0);
  await login(page);
  await expect(page.locator('[data-test="current-user"]')).toHaveText(ADMIN.user);
});

test('the sync trial: terms, role and consent, then its status', async ({ page }) => {
  const errors = appErrors(page);
  await login(page);
  await page.goto('/sync-trial');
  const before = await (await page.request.get('/api/trial')).json();
  expect(before.trialDays).toBe(30);
  if (!before.accepted) {
    const terms = page.locator('[data-test="trial-terms"]');
    await expect(terms).toContainText('30 days per dataset');
    await expect(terms).toContainText(before.howToRestart);
    const accept = page.locator('[data-test="trial-accept"]');
    await expect(accept).toBeDisabled();
    await page.locator('[data-test="role-hobbyist"]').check();
    await expect(accept).toBeDisabled();
    await screenshot(page, 'sync-trial-terms');
    await page.locator('[data-test="trial-consent"]').check();
    await accept.click();
  } else {
    test.info().annotations.push({
      type: 'note',
      description: 'the trial was accepted by an earlier test; only its status is checked',
    });
  }
  const status = page.locator('[data-test="trial-status"]');
  await expect(status).toBeVisible();
  await expect(page.locator('[data-test="trial-dataset"]')).toHaveText(before.datasetId);
  await expect(page.locator('[data-test="trial-admitted"]')).toHaveText('yes');
  await expect(page.locator('[data-test="trial-days-left"]')).toHaveText(/^(29|30)$/);
  const after = await (await page.request.get('/api/trial')).json();
  expect(after.accepted).toBe(true);
  expect(after.clientsAdmitted).toBe(true);
  if (!before.accepted) {
    expect(after.acceptedBy).toBe(ADMIN.user);
    expect(after.role).toBe('hobbyist');
    await expect(page.locator('[data-test="trial-accepted-by"]')).toHaveText(ADMIN.user);
  }
  await screenshot(page, 'sync-trial');
  expect(errors.list).toEqual([]);
});

test('the log level switch takes effect on the server', async ({ page }) => {
  const errors = appErrors(page);
  await login(page);
  await page.goto('/status');
  await expect(page.locator('[data-test="server-version"]')).not.toBeEmpty();
  const current = page.locator('[data-test="current-log-level"]');
  await expect(current).toHaveText('info');
  await expect(page.locator('[data-test="debug-logging"]')).not.toBeChecked();

  await page.locator('[data-test="log-level"]').selectOption('debug');
  await expect(page.locator('[data-test="log-level-notice"]')).toContainText('debug');
  await expect(current).toHaveText('debug');
  expect((await (await page.request.get('/api/log-level')).json()).level).toBe('debug');
  await page.reload();
  await expect(current).toHaveText('debug');
  await expect(page.locator('[data-test="debug-logging"]')).toBeChecked();
  await screenshot(page, 'status');
  await phoneScreenshot(page, 'status');

  // The "Debug logging" switch turns it off again.
  await page.locator('[data-test="debug-logging"]').uncheck();
  await expect(current).toHaveText('info');
  expect((await (await page.request.get('/api/log-level')).json()).level).toBe('info');

  await page.locator('[data-test="tab-counts"]').click();
  await page.locator('[data-test="count-objects"]').click();
  const counts = page.locator('[data-test="entity-counts"]');
  await expect(counts).toContainText('Task');
  await expect(counts).toContainText('Project');
  await expect(page.locator('[data-test="total-count"]')).toHaveText(/^\d[\d,]*$/);
  await screenshot(page, 'status-counts');
  expect(errors.list).toEqual([]);
});

test('the connected-clients chart rises as sync clients connect', async ({ page }) => {
  test.setTimeout(90_000);
  const errors = appErrors(page);
  await login(page);
  await page.goto('/stats');
  const chart = page.locator('[data-test="chart-connectedClients"]');
  await expect(chart).toBeVisible();
  const latest = async () => Number(await chart.getAttribute('data-latest'));
  await expect.poll(latest).toBe(0);

  const clients = [];
  try {
    for (let n = 1; n <= 3; n++) {
      clients.push(watchingClient(clientDir(`watch-${n}`)));
      // The chart follows each client as it logs in (auto-update, every second).
      await expect.poll(latest, { timeout: 20_000 }).toBe(n);
    }
    await expect(chart.locator('svg path.line:not(.running)')).toHaveCount(1);
    await expect(chart.locator('svg path.band')).toHaveCount(1);
    await expect(page.locator('[data-test="chart-connects"]')).toBeVisible();
    await screenshot(page, 'stats');
    await phoneScreenshot(page, 'stats');

    await page.locator('[data-test="composite"]').click();
    for (const name of ['transactions', 'communication', 'communication-bytes', 'errors-and-failures']) {
      await expect(page.locator(`[data-test="chart-${name}"]`)).toBeVisible();
    }
    await expect(page.locator('[data-test="chart-communication"] .legend')).toContainText('Messages received');
    await expect.poll(latest).toBe(3);
    await screenshot(page, 'stats-composite');

    await page.locator('[data-test="resolution-minute"]').click();
    await expect.poll(latest).toBeGreaterThanOrEqual(3);
  } finally {
    for (const client of clients) client.kill();
  }
  // Gone again: at second resolution the last interval holds only the current level.
  await page.locator('[data-test="resolution-second"]').click();
  await expect.poll(latest, { timeout: 20_000 }).toBe(0);
  expect(errors.list).toEqual([]);
});

test('add a user, edit it, see the refusals, remove it', async ({ page }) => {
  const errors = appErrors(page);
  await login(page);
  await page.goto('/users');
  const name = 'e2e-operator';
  await page.locator('[data-test="add-user"]').click();
  await page.locator('[data-test="new-user-name"]').fill(name);
  await page.locator('[data-test="new-user-password"]').fill('operator-password-1');
  await page.locator('[data-test="new-user-repeat"]').fill('operator-password-1');
  await page.locator('[data-test="perm-sync-write"]').uncheck();
  await page.locator('[data-test="create-user"]').click();
  await expect(page.locator('[data-test="users-notice"]')).toContainText(`User ${name} created`);
  const row = page.locator(`[data-test="user-row"][data-user="${name}"]`);
  await expect(row).toBeVisible();
  let user = (await (await page.request.get('/api/users')).json()).find((u) => u.name === name);
  expect(user.permissions).toEqual({ admin: false, syncLogin: true, syncWrite: false });

  // The same name again: the server's refusal in words.
  await page.locator('[data-test="add-user"]').click();
  await page.locator('[data-test="new-user-name"]').fill(name);
  await page.locator('[data-test="new-user-password"]').fill('operator-password-1');
  await page.locator('[data-test="new-user-repeat"]').fill('operator-password-1');
  await page.locator('[data-test="create-user"]').click();
  await expect(page.locator('[data-test="add-user-form"] [role="alert"]')).toContainText(name);
  await page.locator('[data-test="add-user"]').click();

  await row.locator('[data-test="edit-permissions"]').click();
  await page.locator('[data-test="user-dialog"] [data-test="perm-admin"]').check();
  await page.locator('[data-test="save-permissions"]').click();
  await expect(page.locator('[data-test="users-notice"]')).toContainText(`Permissions of ${name} saved`);
  user = (await (await page.request.get('/api/users')).json()).find((u) => u.name === name);
  expect(user.permissions.admin).toBe(true);

  await row.locator('[data-test="change-password"]').click();
  await page.locator('[data-test="new-password"]').fill('operator-password-2');
  await page.locator('[data-test="repeat-password"]').fill('operator-password-2');
  await page.locator('[data-test="save-password"]').click();
  await expect(page.locator('[data-test="users-notice"]')).toContainText(`Password of ${name} changed`);
  await screenshot(page, 'users');
  await phoneScreenshot(page, 'users');

  // Deleting yourself is refused, in words.
  await page.locator(`[data-test="user-row"][data-user="${ADMIN.user}"] [data-test="delete-user"]`).click();
  await page.locator('[data-test="confirm-delete"]').click();
  const refusal = page.locator('[data-test="user-dialog"] [role="alert"]');
  await expect(refusal).toContainText('cannot delete the user you are logged in as');
  await screenshot(page, 'users-refusal');
  await page.getByRole('button', { name: 'Cancel' }).click();

  await row.locator('[data-test="delete-user"]').click();
  await expect(page.locator('[data-test="user-dialog"]')).toContainText(`Delete ${name}?`);
  await page.locator('[data-test="confirm-delete"]').click();
  await expect(page.locator('[data-test="users-notice"]')).toContainText(`User ${name} deleted`);
  await expect(row).toHaveCount(0);
  const names = (await (await page.request.get('/api/users')).json()).map((u) => u.name);
  expect(names).not.toContain(name);
  expect(errors.list).toEqual([]);
});

test('sync history pages, finds and downloads what a sync client wrote', async ({ page }) => {
  const errors = appErrors(page);
  const dir = clientDir('history');
  for (let i = 0; i < 3; i++) {
    await syncClient(dir, 'put', 'Task', JSON.stringify({ text: `history ${i}` }));
  }
  await syncClient(dir, 'sync');
  await login(page);
  const head = (await (await page.request.get('/api/history?limit=1')).json()).headSeq;
  expect(head).toBeGreaterThanOrEqual(3);

  await page.goto('/history');
  const rows = page.locator('[data-test="history-row"]');
  await expect(rows.first()).toHaveAttribute('data-seq', String(head));
  await expect(page.locator('[data-test="history-summary"]')).toContainText(String(head));

  await page.locator('[data-test="find-seq"]').fill(String(head - 1));
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  await expect(rows.first()).toHaveAttribute('data-seq', String(head - 1));
  await expect(rows.first()).toHaveClass(/current/);

  await page.locator('[data-test="find-seq"]').fill('999999');
  await page.getByRole('button', { name: 'Find', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('no retained history entry with seq 999999');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-test="history-download-page"]').click(),
  ]);
  const entries = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(entries[0].seq).toBe(head - 1);
  expect(entries[0].opCount).toBeGreaterThanOrEqual(1);

  await page.locator('[data-test="range-from"]').fill('1');
  await page.locator('[data-test="range-to"]').fill(String(head));
  const [range] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-test="range-download"]').click(),
  ]);
  const all = JSON.parse(readFileSync(await range.path(), 'utf8'));
  expect(all.map((e) => e.seq)).toEqual(Array.from({ length: head }, (_, i) => i + 1));
  await page.getByRole('button', { name: 'Newest' }).click();
  await expect(rows.first()).toHaveAttribute('data-seq', String(head));
  await screenshot(page, 'history');
  expect(errors.list).toEqual([]);
});

test('log events list the server start and download as JSON', async ({ page }) => {
  const errors = appErrors(page);
  await login(page);
  await page.goto('/events');
  const table = page.locator('[data-test="events-table"]');
  await expect(table.locator('[data-test="event-row"]').first()).toBeVisible();
  const api = await (await page.request.get('/api/events?limit=1000')).json();
  await expect(table.locator('[data-test="event-row"]')).toHaveCount(Math.min(api.events.length, 100));
  await expect(table).toContainText(api.events[0].message);
  if (api.events.some((e) => e.component === 'trial')) {
    await expect(table).toContainText('Trial terms accepted');
  }

  await page.locator('[data-test="events-type"]').selectOption('Important');
  const important = api.events.filter((e) => e.type === 'Important').length;
  if (important > 0) {
    await expect(table.locator('[data-test="event-row"]')).toHaveCount(Math.min(important, 100));
  }
  await page.locator('[data-test="events-type"]').selectOption('');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-test="events-export"]').click(),
  ]);
  expect(download.suggestedFilename()).toBe('sync-server-events.json');
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(exported.length).toBeGreaterThanOrEqual(api.events.length);
  expect(exported[0].id).toBeTruthy();
  await screenshot(page, 'events');
  expect(errors.list).toEqual([]);
});
