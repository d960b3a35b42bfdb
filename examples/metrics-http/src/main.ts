/**
 * Serves Prometheus metrics of an instrumented adapter on http://127.0.0.1:9464/metrics (and the
 * Kubernetes probes /healthz, liveness, and /readyz, readiness) while a
 * producer publishes a few orders and a consumer handles them (one handler failure included, to show
 * a nack). Memory backend by default; set EVENT_TYPE (and that backend's env vars) for another.
 * `--smoke`: publish, scrape /metrics and the probes once, print what they answered and exit (used to check the example).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@eventport/core';
import { withMetrics } from '@eventport/metrics';
import { collectDefaultMetrics, register } from 'prom-client';

const TOPIC = 'example.orders';

async function main(): Promise<void> {
  const smoke = process.argv.includes('--smoke');
  collectDefaultMetrics();
  const adapter = withMetrics(await createAdapter());

  let failedOnce = false;
  let handled = 0;
  const subscription = await adapter.subscribe<{ orderId: string }>(
    TOPIC,
    (message) => {
      if (message.data.orderId === 'order-3' && !failedOnce) {
        failedOnce = true;
        throw new Error('payment service timed out'); // nacked, then redelivered
      }
      handled++;
    },
    { group: 'example-billing', redeliveryDelayMs: () => 200 },
  );

  const server = createServer((request, response) => {
    if (request.url === '/healthz' || request.url === '/readyz') {
      // Liveness: the broker answers; readiness: and no subscription is reconnecting. Both answer within the health deadline.
      void adapter.health().then((health) => {
        const up = request.url === '/readyz' ? health.ready : health.ok;
        response.writeHead(up ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(health));
      });
      return;
    }
    if (request.url !== '/metrics') {
      response.writeHead(404).end('try /metrics, /healthz or /readyz\n');
      return;
    }
    register
      .metrics()
      .then((body) => response.writeHead(200, { 'content-type': register.contentType }).end(body))
      .catch((error: unknown) => response.writeHead(500).end(String(error)));
  });
  const port = Number(process.env.PORT ?? (smoke ? 0 : 9464));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: listening } = server.address() as AddressInfo;
  console.log(`backend ${adapter.backend}; metrics at http://127.0.0.1:${listening}/metrics`);

  const publishOrder = (n: number) =>
    adapter.publish({ topic: TOPIC, key: `customer-${n % 2}`, data: { orderId: `order-${n}` } });
  for (let n = 1; n <= 5; n++) await publishOrder(n);

  const shutdown = async () => {
    clearInterval(ticker);
    server.close();
    await subscription.close();
    await adapter.disconnect();
  };
  let next = 6;
  const ticker = setInterval(() => {
    publishOrder(next++).catch((error: unknown) => console.error(`publish failed: ${String(error)}`));
  }, 1_000);

  if (smoke) {
    while (handled < 5) await new Promise((resolve) => setTimeout(resolve, 50));
    const scraped = await (await fetch(`http://127.0.0.1:${listening}/metrics`)).text();
    console.log(
      scraped
        .split('\n')
        .filter((line) => line.startsWith('eventport_') && !line.includes('_bucket'))
        .join('\n'),
    );
    console.log(JSON.stringify(adapter.getMetrics()));
    for (const probe of ['/healthz', '/readyz']) {
      const answer = await fetch(`http://127.0.0.1:${listening}${probe}`);
      console.log(`${probe} ${answer.status} ${await answer.text()}`);
    }
    await shutdown();
    return;
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      shutdown().catch((error: unknown) => {
        console.error(error);
        process.exitCode = 1;
      });
    });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
