import { getEventListeners } from 'node:events';
import { abortable, withAbortion } from '@eventport/core';
import { expect, test } from '@jest/globals';

test('abortable and withAbortion leave no listener on a signal that outlives them (a publish and its retries)', async () => {
  const publish = new AbortController();
  for (let attempt = 0; attempt < 50; attempt++) {
    await abortable(Promise.resolve(attempt), publish.signal);
    await abortable(Promise.reject(new Error('refused')), publish.signal).catch(() => undefined);
    await withAbortion(publish.signal, (abortion) => Promise.race([Promise.resolve(attempt), abortion]));
  }
  expect(getEventListeners(publish.signal, 'abort')).toHaveLength(0);
});

test('abortable rejects with the signal reason once it aborts, and at once when it already has', async () => {
  const controller = new AbortController();
  const pending = abortable(new Promise(() => undefined), controller.signal);
  controller.abort(new Error('deadline'));
  await expect(pending).rejects.toThrow('deadline');
  await expect(abortable(new Promise(() => undefined), controller.signal)).rejects.toThrow('deadline');
  expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
});
