// The schema pages: the current model with its diagram, the versions table, viewing and
// downloading a version, uploading an evolved model (its counts and changes shown before
// saving; a second upload refused in the server's words), switching the current version, and
// the client schemas seen at login.
import { test, expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, clientDir, consoleErrors, login, screenshot, syncClient } from './support.mjs';

test.describe.configure({ mode: 'serial' });

const EVOLVED = join(ROOT, 'e2e/fixtures/evolved-model.json');

async function phoneScreenshot(page, name) {
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('the current model: entities, properties with type and flag names, and the diagram', async ({ page }) => {
  const errors = consoleErrors(page);
  await login(page);
  await page.goto('/schema');
  const schema = await (await page.request.get('/api/schema')).json();
  const panels = page.locator('[data-test="schema-entity"]');
  await expect(panels).toHaveCount(schema.entities.length);
  const task = page.locator('[data-test="schema-entity"][data-entity="Task"]');
  const projectId = task.locator('[data-test="schema-property"]', { hasText: 'projectId' });
  await expect(projectId).toContainText('Relation');
  await expect(projectId).toContainText('INDEXED');
  await expect(projectId).toContainText('INDEX_PARTIAL_SKIP_ZERO');
  await expect(projectId).toContainText('1:5027262815219744003');
  await expect(projectId.getByRole('link', { name: 'Project' })).toBeVisible();
  await expect(task.locator('[data-test="schema-property"]', { hasText: 'syncClock' })).toContainText('SYNC_CLOCK');
  await expect(page.locator('[data-test="schema-facts"]')).toContainText(schema.fullHash);

  // The diagram: a box per entity and the to-one relation Task.projectId as a labelled arrow.
  const diagram = page.locator('svg[data-test="schema-diagram"]');
  await expect(diagram.locator('g.entity')).toHaveCount(schema.entities.length);
  await expect(diagram.locator('g.entity[data-entity="Task"]')).toContainText('projectId');
  await expect(diagram.locator('path.edge')).toHaveCount(1);
  await expect(diagram.locator('text', { hasText: 'projectId' })).toHaveCount(2);
  await screenshot(page, 'schema');
  await phoneScreenshot(page, 'schema');

  const [svg] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-test="download-diagram"]').click(),
  ]);
  expect(svg.suggestedFilename()).toBe(`schema-v${schema.versionId}.svg`);
  expect(readFileSync(await svg.path(), 'utf8')).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  expect(errors).toEqual([]);
});

test('the versions table; a version viewed and downloaded', async ({ page }) => {
  await login(page);
  await page.goto('/schema/versions');
  const { versions } = await (await page.request.get('/api/schema/versions')).json();
  await expect(page.locator('[data-test="version-row"]')).toHaveCount(versions.length);
  const first = page.locator('[data-test="version-row"][data-version="1"]');
  await expect(first.locator('[data-test="running-mark"]')).toBeVisible();
  await expect(first).toContainText('server-init');
  await expect(first.locator('[data-test="accept-clients"]')).toBeChecked();
  await expect(first).toContainText('2 | 9 | 0 | 1');
  await screenshot(page, 'schema-versions');
  await phoneScreenshot(page, 'schema-versions');

  await first.locator('[data-test="view-version"]').click();
  const dialog = page.locator('[data-test="version-dialog"]');
  await expect(dialog).toContainText('Schema version 1');
  await expect(dialog.locator('[data-test="version-json"]')).toContainText('"name": "Task"');
  await dialog.getByRole('button', { name: 'Close' }).click();
  await expect(dialog).toHaveCount(0);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    first.locator('[data-test="download-version"]').click(),
  ]);
  expect(download.suggestedFilename()).toBe('objectbox-model-v1.json');
  const model = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(model.entities.map((e) => e.name)).toEqual(['Task', 'Project']);
});

test('upload an evolved model: counts and changes before saving, then the new version', async ({ page }) => {
  const errors = consoleErrors(page);
  await login(page);
  await page.goto('/schema/versions');
  const before = (await (await page.request.get('/api/schema/versions')).json()).versions;
  await expect(page.locator('[data-test="version-row"]')).toHaveCount(before.length);

  await page.locator('[data-test="new-version"]').click();
  await page.locator('[data-test="upload-file"]').setInputFiles(EVOLVED);
  await expect(page.locator('[data-test="upload-counts"]'))
    .toHaveText('2 entities, 10 properties, 0 standalone relations, 1 indexes');
  await expect(page.locator('[data-test="upload-changes"]')).toHaveText('+ property Task.priority (Int)');
  await expect(page.locator('[data-test="upload-accept"]')).toBeChecked();
  await screenshot(page, 'schema-versions-upload');
  await page.locator('[data-test="upload-save"]').click();

  await expect(page.locator('[data-test="versions-notice"]')).toContainText('Saved schema version');
  await expect(page.locator('[data-test="version-row"]')).toHaveCount(before.length + 1);
  const after = (await (await page.request.get('/api/schema/versions')).json()).versions;
  const added = after.find((v) => !before.some((b) => b.id === v.id));
  expect(added).toMatchObject({ propertyCount: 10, entityCount: 2, acceptClients: true, author: 'admin' });
  const row = page.locator(`[data-test="version-row"][data-version="${added.id}"]`);
  await expect(row).toContainText('2 | 10 | 0 | 1');
  await expect(row).toContainText('admin');
  await expect(row.locator('[data-test="accept-clients"]')).toBeChecked();
  await expect(page.locator('[data-test="upload-panel"]')).toHaveCount(0);

  // The same model again is refused, in the server's words.
  await page.locator('[data-test="new-version"]').click();
  await page.locator('[data-test="upload-text"]').fill(readFileSync(EVOLVED, 'utf8'));
  await page.locator('[data-test="upload-save"]').click();
  await expect(page.locator('[data-test="upload-panel"]').getByRole('alert')).toContainText('HTTP 409');
  await screenshot(page, 'schema-versions-refused');
  // The browser logs the refused upload itself; nothing else may fail.
  expect(errors.filter((e) => !e.includes('status of 409'))).toEqual([]);
});

test('switch the current version: it applies at the next start; switch back', async ({ page }) => {
  await login(page);
  await page.goto('/schema/versions');
  const { versions } = await (await page.request.get('/api/schema/versions')).json();
  const newest = Math.max(...versions.map((v) => v.id));
  expect(newest).toBeGreaterThan(1);
  const row = page.locator(`[data-test="version-row"][data-version="${newest}"]`);
  await row.locator('[data-test="make-current"]').click();
  await expect(page.locator('[data-test="switch-dialog"]')).toContainText('until it is restarted');
  await page.locator('[data-test="confirm-switch"]').click();
  await expect(page.locator('[data-test="versions-notice"]')).toContainText(`Schema version ${newest} is now current`);
  await expect(page.locator('[data-test="versions-notice"]')).toContainText('restarted');
  await expect(row.locator('[data-test="current-mark"]')).toBeVisible();
  await expect(page.locator('[data-test="restart-pending"]')).toBeVisible();
  await screenshot(page, 'schema-versions-switched');

  // Back to the version the server runs on, so later starts use the example model again.
  const first = page.locator('[data-test="version-row"][data-version="1"]');
  await first.locator('[data-test="make-current"]').click();
  await page.locator('[data-test="confirm-switch"]').click();
  await expect(page.locator('[data-test="versions-notice"]')).toContainText('is current and running');
  await expect(first.locator('[data-test="current-mark"]')).toBeVisible();
  await expect(page.locator('[data-test="restart-pending"]')).toHaveCount(0);
});

test('client schemas: the schema a sync-client logged in with, matched to its version', async ({ page }) => {
  await login(page);
  const trial = await (await page.request.get('/api/trial')).json();
  if (!trial.clientsAdmitted) {
    const session = await (await page.request.get('/api/session')).json();
    const accepted = await page.request.post('/api/trial/accept', {
      data: { role: 'hobbyist' }, headers: { 'X-CSRF-Token': session.csrfToken },
    });
    expect(accepted.ok()).toBeTruthy();
  }
  await syncClient(clientDir('schema'), 'sync');
  await page.goto('/schema/versions');
  await page.locator('[data-test="tab-clients"]').click();
  const { clients } = await (await page.request.get('/api/schema/clients')).json();
  expect(clients.length).toBeGreaterThanOrEqual(1);
  const rows = page.locator('[data-test="client-schema-row"]');
  await expect(rows).toHaveCount(clients.length);
  await expect(rows.filter({ hasText: 'version 1' }).first()).toBeVisible();
  await screenshot(page, 'schema-clients');
});
