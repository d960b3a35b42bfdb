import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect, test } from '@jest/globals';

const repo = path.resolve(__dirname, '../../..');

/**
 * An application that installed only @eventport/core (with its own dependencies) asks for Kafka.
 * Runs the built core in a separate node_modules tree, so the workspace's packages are invisible.
 */
test('EVENT_TYPE=kafka without @eventport/kafka says exactly which package to install', () => {
  const app = mkdtempSync(path.join(tmpdir(), 'eventport-app-'));
  try {
    mkdirSync(path.join(app, 'node_modules', '@eventport'), { recursive: true });
    symlinkSync(path.join(repo, 'packages/core'), path.join(app, 'node_modules/@eventport/core'));
    for (const dependency of ['zod', 'cockatiel']) {
      symlinkSync(path.join(repo, 'node_modules', dependency), path.join(app, 'node_modules', dependency));
    }
    const script = `require('@eventport/core').createAdapter().then(() => console.log('created'), (e) => console.log(e.code + ': ' + e.message))`;
    const output = execFileSync(process.execPath, ['--preserve-symlinks', '-e', script], {
      cwd: app,
      env: { ...process.env, EVENT_TYPE: 'kafka' },
      encoding: 'utf8',
    });
    expect(output.trim()).toBe(
      'BACKEND_NOT_INSTALLED: EVENT_TYPE=kafka needs @eventport/kafka, which is not installed — npm install @eventport/kafka',
    );
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
