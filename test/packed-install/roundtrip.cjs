// Publishes 3 messages on every backend named in argv and consumes them back, as an installed app would.
// Prints one JSON line per backend: { backend, published, received, ok, error? }.
const { createAdapter, isEventportError, EventportError } = require('@eventport/core');

async function roundtrip(backend) {
  const adapter = await createAdapter(backend);
  const topic = `packed-${backend}-${process.pid}-${Date.now()}`;
  const received = new Set();
  let done;
  const all = new Promise((resolve) => (done = resolve));
  const subscription = await adapter.subscribe(
    topic,
    (message) => {
      received.add(message.data.n);
      if (received.size === 3) done();
    },
    { group: 'packed' },
  );
  for (let n = 1; n <= 3; n++) await adapter.publish({ topic, key: `k${n}`, data: { n } });
  const timeout = new Promise((resolve) => setTimeout(resolve, 30_000).unref());
  await Promise.race([all, timeout]);
  await subscription.close();
  const health = await adapter.health();
  // Errors of every installed package are the one core's class: instanceof holds across packages.
  let sameErrorClass = false;
  try {
    await adapter.subscribe(topic, () => undefined, { grup: 'typo' });
  } catch (error) {
    sameErrorClass = error instanceof EventportError && isEventportError(error, 'INVALID_ARGUMENT');
  }
  await adapter.disconnect();
  return { backend, published: 3, received: received.size, healthy: health.ok, sameErrorClass };
}

(async () => {
  for (const backend of process.argv.slice(2)) {
    try {
      console.log(JSON.stringify(await roundtrip(backend)));
    } catch (error) {
      console.log(JSON.stringify({ backend, received: 0, error: `${error.code ?? ''} ${error.message}` }));
    }
  }
})();
