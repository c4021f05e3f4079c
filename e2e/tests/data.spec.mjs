// The data browser: objects a real sync-client wrote, paging, the relation from a Task to its
// Project and back, the JSON export of one entity; and every kind of value (dates, images in
// byte vectors, long vectors and strings, Flex) on a second server with a richer model.
import { test, expect } from '@playwright/test';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { crc32, deflateSync } from 'node:zlib';
import { join } from 'node:path';
import {
  CLIENT_BINARY, ROOT, SERVER_BINARY, clientDir, consoleErrors, login, screenshot, syncClient,
} from './support.mjs';

test.describe.configure({ mode: 'serial' });

/// What the first test wrote, for the tests after it.
const written = {};

/// Accepts the sync trial through the API when no earlier test did, so clients may log in.
async function admitClients(page) {
  const trial = await (await page.request.get('/api/trial')).json();
  if (trial.clientsAdmitted) return;
  const session = await (await page.request.get('/api/session')).json();
  const answer = await page.request.post('/api/trial/accept', {
    data: { role: 'hobbyist' },
    headers: { 'X-CSRF-Token': session.csrfToken },
  });
  expect(answer.ok()).toBeTruthy();
}

/// A local date and time as the app shows it, computed in the browser's time zone.
async function localTime(page, ms, fraction) {
  return page.evaluate(([ms, fraction]) => {
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} `
      + `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${fraction}`;
  }, [ms, fraction]);
}

async function phoneScreenshot(page, name) {
  await page.setViewportSize({ width: 390, height: 844 });
  await screenshot(page, `${name}-phone`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

test('objects a sync-client wrote: entity counts, the table, a relation to the Project and back', async ({ page }) => {
  const errors = consoleErrors(page);
  await login(page);
  await admitClients(page);

  const dir = clientDir('data');
  const stamp = Date.now();
  written.projectName = `Apollo ${stamp}`;
  written.taskText = `Write the docs ${stamp}`;
  written.created = Date.UTC(2026, 10, 26, 9, 40, 7, 123);
  const projectLocal = await syncClient(
    dir, 'put', 'Project', JSON.stringify({ name: written.projectName, color: 16711680 }),
  );
  await syncClient(dir, 'put', 'Task', JSON.stringify({
    text: written.taskText, dateCreated: written.created, projectId: Number(projectLocal),
  }));
  await syncClient(dir, 'sync');

  // The entity list shows the API's counts.
  await page.goto('/data');
  const { entities } = await (await page.request.get('/api/data/entities')).json();
  expect(entities.map((e) => e.name)).toEqual(['Task', 'Project']);
  for (const e of entities) {
    const row = page.locator(`[data-test="entity-row"][data-entity="${e.name}"]`);
    await expect(row.locator('[data-test="object-count"]')).toHaveText(e.objectCount.toLocaleString('en-US'));
  }
  await screenshot(page, 'data');
  await phoneScreenshot(page, 'data');

  // The Task table: a column per property, the date in local time, the relation as a link.
  await page.locator('[data-test="entity-row"][data-entity="Task"] [data-test="entity-link"]').click();
  await expect(page).toHaveURL(/\/data\/Task$/);
  const headers = page.locator('[data-test="objects-table"] thead th');
  await expect(headers).toHaveText([/^id/, /^text/, /^dateCreated/, /^dateFinished/, /^projectId/, /^syncClock/]);
  const row = page.locator('[data-test="object-row"]', { hasText: written.taskText });
  await expect(row).toHaveCount(1);
  await expect(row.locator('time.date')).toHaveText(await localTime(page, written.created, '.123'));
  await expect(row.locator('time.date')).toHaveAttribute('title', '2026-11-26T09:40:07.123Z');
  await screenshot(page, 'data-objects');
  await phoneScreenshot(page, 'data-objects');

  await row.locator('[data-test="relation-link"]').click();
  await expect(page).toHaveURL(/\/data\/Project\/[0-9A-F]+%3A\d+$|\/data\/Project\/[0-9A-F]+:\d+$/);
  await expect(page.locator('[data-test="prop-name"]')).toHaveText(written.projectName);
  written.projectId = await page.locator('[data-test="prop-id"]').textContent();
  expect(written.projectId).toMatch(/^[0-9A-F]+:\d+$/);

  // The Project page finds the Task that points to it, and links back.
  const incoming = page.locator('[data-test="incoming"]');
  await expect(incoming).toContainText('Task.projectId');
  await expect(incoming).toContainText(/1 of \d+ Task objects refer to this one/);
  await expect(page.locator('[data-test="incoming-link"]')).toHaveCount(1);
  await screenshot(page, 'data-object');
  await page.locator('[data-test="incoming-link"]').click();
  await expect(page.locator('[data-test="prop-text"]')).toHaveText(written.taskText);
  await expect(page.locator('[data-test="outgoing-link"]')).toHaveText(`Project ${written.projectId}`);
  written.taskId = await page.locator('[data-test="prop-id"]').textContent();
  expect(errors).toEqual([]);
});

test('paging through the objects follows the address', async ({ page }) => {
  await login(page);
  const { total } = await (await page.request.get('/api/data/entities/Task/objects?limit=1')).json();
  expect(total).toBeGreaterThanOrEqual(1);
  await page.goto('/data/Task?limit=1');
  await expect(page.locator('[data-test="page-range"]').first()).toHaveText(`1–1 of ${total.toLocaleString('en-US')}`);
  await expect(page.locator('[data-test="object-row"]')).toHaveCount(1);
  await expect(page.locator('[data-test="prev-page"]').first()).toBeDisabled();
  if (total > 1) {
    await page.locator('[data-test="next-page"]').first().click();
    await expect(page).toHaveURL(/offset=1&limit=1$/);
    await expect(page.locator('[data-test="page-range"]').first()).toHaveText(`2–2 of ${total.toLocaleString('en-US')}`);
  }
  // A missing object is reported in words.
  await page.goto('/data/Task/99999999');
  await expect(page.getByRole('alert')).toContainText('no Task object with id 99999999');
});

test('download one entity as JSON: the file holds the Task and its relation', async ({ page }) => {
  await login(page);
  await page.goto('/data');
  const row = page.locator('[data-test="entity-row"][data-entity="Task"]');
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    row.locator('[data-test="download-entity"]').click(),
  ]);
  expect(download.suggestedFilename()).toBe('Task.json');
  const file = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(file.format).toBe('sync-server-export');
  expect(file.entity).toBe('Task');
  const { entities } = await (await page.request.get('/api/data/entities')).json();
  expect(file.objects).toHaveLength(entities.find((e) => e.name === 'Task').objectCount);
  const task = file.objects.find((o) => o.text === written.taskText);
  expect(task.id).toBe(written.taskId);
  expect(task.projectId).toBe(written.projectId);
  expect(task.dateCreated.ms).toBe(written.created);

  // The same from the entity's own page.
  await page.goto('/data/Project');
  const [again] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-test="download-entity"]').click(),
  ]);
  expect(again.suggestedFilename()).toBe('Project.json');
  const projects = JSON.parse(readFileSync(await again.path(), 'utf8'));
  expect(projects.objects.map((o) => o.name)).toContain(written.projectName);

  // Everything: objects of every entity, named by `_entity`, and the links array.
  await page.goto('/data');
  const [all] = await Promise.all([
    page.waitForEvent('download'),
    page.locator('[data-test="download-all"]').click(),
  ]);
  expect(all.suggestedFilename()).toBe('sync-server-export.json');
  const everything = JSON.parse(readFileSync(await all.path(), 'utf8'));
  const total = entities.reduce((sum, e) => sum + e.objectCount, 0);
  expect(everything.objects).toHaveLength(total);
  expect(everything.objects.find((o) => o.id === written.projectId)).toMatchObject({
    _entity: 'Project', name: written.projectName,
  });
  expect(everything.links).toEqual([]);
});

/// A port nobody listens on.
async function freePort() {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.on('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => ok(port));
    });
  });
}

/// A 2×2 RGB PNG, built here (signature, IHDR, IDAT, IEND) so the test shows where its bytes
/// come from.
function tinyPng() {
  const chunk = (type, data) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(2, 0);
  header.writeUInt32BE(2, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const pixels = Buffer.from([0, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255, 255, 255, 255]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('every kind of value on a richer model: dates, images, vectors, long text, Flex', async ({ browser }) => {
  const model = join(ROOT, 'e2e/fixtures/values-model.json');
  const adminPort = await freePort();
  const syncPort = await freePort();
  const db = join(mkdtempSync(join(tmpdir(), 'sync-e2e-values-')), 'db');
  const server = spawn(SERVER_BINARY, [
    '--model', model, '--db-directory', db,
    '--bind', `ws://127.0.0.1:${syncPort}`, '--admin-bind', `http://127.0.0.1:${adminPort}`,
    '--unsecured-no-authentication', '--admin-unsecured-no-authentication',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.resume();
  server.stderr.resume();
  const base = `http://127.0.0.1:${adminPort}`;
  try {
    await expect.poll(async () => {
      try { return (await fetch(`${base}/api/health`)).status; } catch { return 0; }
    }, { timeout: 30_000 }).toBe(200);

    const svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="60" height="40">'
      + '<rect width="60" height="40" fill="#1f6feb"/></svg>';
    const notes = `First line\n${'lorem ipsum '.repeat(40)}`;
    const embedding = Array.from({ length: 64 }, (_, i) => i / 8);
    const taken = 1764150000123456789n;
    const object = `{"title":"Sunset","image":"${tinyPng().toString('base64')}",`
      + `"svg":"${Buffer.from(svg).toString('base64')}",`
      + `"blob":"${Buffer.from([0, 1, 2, 3, 250, 251, 252, 253, 254, 255]).toString('base64')}",`
      + `"embedding":${JSON.stringify(embedding)},"tags":["a","b"],`
      + `"meta":{"k":[1,2,3],"deep":{"s":"${'x'.repeat(80)}"}},`
      + `"takenNs":${taken},"notes":${JSON.stringify(notes)},"seen":[1764150000000],"flag":true,"score":3.25}`;
    const dir = clientDir('values');
    const client = (...args) => new Promise((ok, fail) => {
      const child = spawn(CLIENT_BINARY, [
        '--server', `ws://127.0.0.1:${syncPort}`, '--model', model, '--dir', dir, ...args,
      ]);
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      child.on('close', (code) => (code === 0 ? ok(out.trim()) : fail(new Error(err))));
    });
    await client('put', 'Media', object);
    await client('sync');

    const context = await browser.newContext({ baseURL: base });
    const page = await context.newPage();
    const errors = consoleErrors(page);
    await page.goto('/data/Media');
    const row = page.locator('[data-test="object-row"]');
    await expect(row).toHaveCount(1);

    // Images in byte vectors, recognised by their first bytes.
    const images = row.locator('img[data-test="value-image"]');
    await expect(images).toHaveCount(2);
    await expect(images.nth(0)).toHaveAttribute('src', /^data:image\/png;base64,iVBORw0KGgo/);
    await expect(images.nth(1)).toHaveAttribute('src', /^data:image\/svg\+xml;base64,/);
    expect(await images.nth(0).evaluate((img) => img.naturalWidth)).toBe(2);
    // Other bytes as hex, the whole in the dialog.
    await expect(row).toContainText('00 01 02 03 fa fb fc fd …');
    // DateNano with its nanoseconds in local time.
    const local = await localTime(page, 1764150000000, '.123456789');
    await expect(row.locator('time.date').first()).toHaveText(local);
    await screenshot(page, 'data-values');

    // A long vector is shortened; the dialog has every item.
    const more = row.getByRole('button', { name: '64 items' });
    await more.click();
    const dialog = page.locator('[data-test="value-dialog"]');
    await expect(dialog).toContainText('embedding (64 items)');
    // Floats as the API sends them: whole numbers keep their `.0`.
    const floats = embedding.map((v) => (Number.isInteger(v) ? v.toFixed(1) : String(v)));
    await expect(dialog.locator('pre')).toHaveText(`[${floats.join(', ')}]`);
    await page.keyboard.press('Escape');
    await expect(dialog).toHaveCount(0);

    // The object page: long text whole, Flex as JSON, an image opens full size.
    await row.locator('[data-test="object-link"]').click();
    await expect(page.locator('[data-test="prop-notes"]')).toHaveText(notes);
    await expect(page.locator('[data-test="prop-flag"]')).toHaveText('true');
    await expect(page.locator('[data-test="prop-score"]')).toHaveText('3.25');
    await expect(page.locator('[data-test="prop-meta"]')).toContainText('{"deep":{"s":"xxxx');
    await page.locator('[data-test="prop-image"] button').click();
    await expect(dialog.locator('img')).toHaveAttribute('src', /^data:image\/png;base64,/);
    await screenshot(page, 'data-value-dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await screenshot(page, 'data-values-object');
    expect(errors).toEqual([]);
    await context.close();
  } finally {
    server.kill('SIGTERM');
  }
});
