import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@jest/globals';

const repo = path.resolve(__dirname, '../../..');

/** Runs `script` in an application that installed only @eventport/core, so the workspace's packages are invisible. */
function inAppWithOnlyCore(script: string, env: NodeJS.ProcessEnv = {}): string {
  const app = mkdtempSync(path.join(tmpdir(), 'eventport-app-'));
  try {
    mkdirSync(path.join(app, 'node_modules', '@eventport'), { recursive: true });
    symlinkSync(path.join(repo, 'packages/core'), path.join(app, 'node_modules/@eventport/core'));
    symlinkSync(path.join(repo, 'node_modules', 'zod'), path.join(app, 'node_modules', 'zod'));
    return execFileSync(process.execPath, ['--preserve-symlinks', '-e', script], {
      cwd: app,
      env: { ...process.env, ...env },
      encoding: 'utf8',
    }).trim();
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
}

/**
 * An application that installed only @eventport/core (with its own dependencies) asks for Kafka.
 * Runs the built core in a separate node_modules tree, so the workspace's packages are invisible.
 */
test('EVENT_TYPE=kafka without @eventport/kafka says exactly which package to install', () => {
  const output = inAppWithOnlyCore(
    `require('@eventport/core').createAdapter().then(() => console.log('created'), (e) => console.log(e.code + ': ' + e.message))`,
    { EVENT_TYPE: 'kafka' },
  );
  expect(output).toBe(
    "BACKEND_NOT_INSTALLED: EVENT_TYPE=kafka needs @eventport/kafka, which is not installed — npm install @eventport/kafka; with a bundler, import '@eventport/kafka/register'",
  );
});

test('a misspelt EVENT_TYPE suggests the registered backend it is closest to', () => {
  const output = inAppWithOnlyCore(`
    const core = require('@eventport/core');
    core.registerAdapter('in-house', () => { throw new Error('not reached'); });
    core.createAdapter('in-huose').then(() => console.log('created'), (e) => console.log(e.code + ': ' + e.message));
  `);
  expect(output).toBe(
    'BACKEND_NOT_INSTALLED: EVENT_TYPE=in-huose needs @eventport/in-huose, which is not installed — npm install @eventport/in-huose (or did you mean "in-house"?); with a bundler, import \'@eventport/in-huose/register\'; registered here: in-house',
  );
});
