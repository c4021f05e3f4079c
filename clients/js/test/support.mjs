// Test helpers: paths, free ports, and starting and stopping the real sync-server by PID.

import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The repository root (clients/js/test → ../../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
