// The packages built on cockatiel, an ES module only, used from CommonJS as an installed app would:
// the relay's first publish fails and is retried after its backoff, the circuit breaker sees every
// publish, and the handler's first run fails and is retried by the dead-letter decorator.
// Prints one JSON line: { relayErrors, handlerRuns, data, circuit }.
const { createAdapter } = require('@eventport/core');
const { withCircuitBreaker } = require('@eventport/circuit-breaker');
const { withDeadLetters } = require('@eventport/dlq');
const { MemoryOutboxStore, OutboxRelay } = require('@eventport/outbox');

(async () => {
  const adapter = withCircuitBreaker(
    withDeadLetters(await createAdapter('memory'), { maxAttempts: 3, initialDelayMs: 10, maxDelayMs: 50 }),
    { consecutiveFailures: 5 },
  );
  const topic = 'packed.resilience';
  let handlerRuns = 0;
  let data;
  let done;
  const handled = new Promise((resolve) => (done = resolve));
  const subscription = await adapter.subscribe(
    topic,
    (message) => {
      handlerRuns += 1;
      if (handlerRuns === 1) throw new Error('the first run fails');
      data = message.data;
      done();
    },
    { group: 'packed' },
  );

  const store = new MemoryOutboxStore();
  await store.transaction((tx) => store.add(tx, { topic, data: { n: 1 } }));
  let relayErrors = 0;
  let brokerDown = true;
  const relay = new OutboxRelay({
    store,
    adapter: {
      publishBatch: (messages) => {
        if (brokerDown) {
          brokerDown = false;
          return Promise.reject(new Error('broker down'));
        }
        return adapter.publishBatch(messages);
      },
    },
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    pollIntervalMs: 20,
    onError: () => {
      relayErrors += 1;
    },
  });
  relay.start();
  const timeout = new Promise((resolve) => setTimeout(resolve, 30_000).unref());
  await Promise.race([handled, timeout]);
  await relay.stop();
  await subscription.close();
  const circuit = adapter.circuitState;
  await adapter.disconnect();
  console.log(JSON.stringify({ relayErrors, handlerRuns, data, circuit }));
})();
