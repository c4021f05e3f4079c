// The app loads from the server, logs in and out, and a deep link opens its page.
import { test, expect } from '@playwright/test';
import { ADMIN, consoleErrors, login, screenshot } from './support.mjs';

test('the app loads, logs in and out without console errors', async ({ page }) => {
  const errors = consoleErrors(page);
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  await screenshot(page, 'login');
  await login(page);
  await expect(page.locator('[data-test="current-user"]')).toHaveText(ADMIN.user);
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  expect(errors).toEqual([]);
});

test('an ObjectBox-style hash link opens the same page as its path', async ({ page }) => {
  await login(page);
  await page.goto('/#/users');
  await expect(page).toHaveURL(/\/users$/);
  await expect(page.locator('nav.sidebar a[aria-current="page"]')).toHaveText('Users');
});
