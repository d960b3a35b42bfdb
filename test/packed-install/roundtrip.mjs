// The same from an ES module, with a static registration (what a bundler sees).
import { createAdapter } from '@eventport/core';
import '@eventport/memory/register';

const adapter = await createAdapter('memory');
const topic = 'packed-esm';
const seen = [];
const subscription = await adapter.subscribe(topic, (message) => {
  seen.push(message.data);
});
await adapter.publish({ topic, data: { esm: true } });
while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
await subscription.close();
await adapter.disconnect();
console.log(JSON.stringify({ esm: seen }));
