/**
 * Overhead of the decorators on the memory backend: messages per second published and consumed end
 * to end, plain and decorated. Build and run: `npx tsc -b packages/metrics/bench && node packages/metrics/bench/dist/overhead.js`.
 */
import { withCircuitBreaker } from '@eventport/circuit-breaker';
import { type EventAdapter, silentLogger } from '@eventport/core';
import { createMemoryAdapter, MemoryBroker } from '@eventport/memory';
import { withMetrics } from '@eventport/metrics';
import { Registry } from 'prom-client';

export interface OverheadResult {
  scenario: string;
  /** Median of the runs. */
  publishPerSecond: number;
  endToEndPerSecond: number;
  /** Process CPU time per message, end to end: steadier than msgs/s on a machine shared with other load. */
  cpuMicrosPerMessage: number;
}

interface Sample {
  publishPerSecond: number;
  endToEndPerSecond: number;
  cpuMicrosPerMessage: number;
}

type Decorate = (adapter: EventAdapter) => EventAdapter;

export const SCENARIOS: Record<string, Decorate> = {
  'memory (plain)': (adapter) => adapter,
  withCircuitBreaker: (adapter) => withCircuitBreaker(adapter, { logger: silentLogger }),
  'withMetrics (no OTel SDK)': (adapter) => withMetrics(adapter, { registry: new Registry() }),
  'withMetrics(withCircuitBreaker)': (adapter) =>
    withMetrics(withCircuitBreaker(adapter, { logger: silentLogger }), { registry: new Registry() }),
};

export async function measureDecoratorOverhead(
  options: { messages?: number; publishers?: number; runs?: number } = {},
): Promise<OverheadResult[]> {
  const messages = options.messages ?? 20_000;
  const publishers = options.publishers ?? 32;
  const runs = options.runs ?? 7;
  const entries = Object.entries(SCENARIOS);
  for (const [, decorate] of entries) await runOnce(decorate, Math.min(messages, 2_000), publishers); // warm-up
  // Round-robin over the scenarios, so a burst of load from elsewhere on the machine hits all of them alike.
  const samples = new Map<string, Sample[]>();
  for (let run = 0; run < runs; run++) {
    for (const [scenario, decorate] of entries) {
      samples.set(scenario, [...(samples.get(scenario) ?? []), await runOnce(decorate, messages, publishers)]);
    }
  }
  return entries.map(([scenario]) => {
    const runsOf = samples.get(scenario) ?? [];
    return {
      scenario,
      publishPerSecond: median(runsOf.map((sample) => sample.publishPerSecond)),
      endToEndPerSecond: median(runsOf.map((sample) => sample.endToEndPerSecond)),
      cpuMicrosPerMessage: median(runsOf.map((sample) => sample.cpuMicrosPerMessage)),
    };
  });
}

async function runOnce(decorate: Decorate, messages: number, publishers: number): Promise<Sample> {
  const adapter = decorate(createMemoryAdapter({ broker: new MemoryBroker(), logger: silentLogger }));
  let consumed = 0;
  let allConsumed: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    allConsumed = resolve;
  });
  const subscription = await adapter.subscribe(
    'bench',
    () => {
      if (++consumed === messages) allConsumed();
    },
    { concurrency: 64 },
  );
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: publishers }, async () => {
      while (next < messages) {
        next++;
        await adapter.publish({ topic: 'bench', data: { n: next, text: 'a small event body' } });
      }
    }),
  );
  const published = performance.now();
  await done;
  const finished = performance.now();
  const cpu = process.cpuUsage(cpuAtStart);
  await subscription.close();
  await adapter.disconnect();
  return {
    publishPerSecond: messages / ((published - started) / 1000),
    endToEndPerSecond: messages / ((finished - started) / 1000),
    cpuMicrosPerMessage: (cpu.user + cpu.system) / messages,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

if (require.main === module) {
  measureDecoratorOverhead()
    .then((results) => {
      const rate = (value: number) => Math.round(value).toLocaleString('en-US').padStart(8);
      const [baseline] = results;
      for (const result of results) {
        const extraCpu = result.cpuMicrosPerMessage - (baseline?.cpuMicrosPerMessage ?? 0);
        console.log(
          `${result.scenario.padEnd(32)} publish ${rate(result.publishPerSecond)} msg/s  end-to-end ${rate(result.endToEndPerSecond)} msg/s  CPU ${result.cpuMicrosPerMessage.toFixed(1).padStart(5)} µs/msg (${extraCpu >= 0 ? '+' : ''}${extraCpu.toFixed(1)})`,
        );
      }
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
