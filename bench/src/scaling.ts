/**
 * How the SDK's publish→handler→ack scales, per backend, one dimension at a time from a baseline (no
 * key, the run's concurrency, one subscription): distinct keys, handler concurrency, subscriptions on
 * one adapter. All cells of a backend are contenders of one measurement, so their rounds alternate.
 */
import { describe, log } from './log.js';
import { type Contender, contender, type MeasureSettings, measure, type Side, sideOf } from './measure.js';
import { connectedAdapter, SdkTarget } from './sdk.js';

export type Dimension = 'keys' | 'concurrency' | 'subscriptions';

export const SCALING: Record<Dimension, readonly number[]> = {
  keys: [1, 1_000, 100_000],
  concurrency: [1, 16, 256],
  subscriptions: [1, 100],
};

/** One configuration; `keys` absent: published without a key. */
interface Cell {
  keys?: number;
  concurrency: number;
  subscriptions: number;
}

export interface ScalingRow {
  backend: string;
  dimension: Dimension;
  value: number;
  messages: number;
  side: Side;
  /** msgs/s ÷ the baseline's (no key, concurrency `baseline.concurrency`, one subscription). */
  vsBaseline: number | null;
}

const cellLabel = (cell: Cell) =>
  `${cell.keys === undefined ? 'no key' : `${cell.keys} keys`}, concurrency ${cell.concurrency}, ${cell.subscriptions} subscription(s)`;

/** The cells of every dimension, each configuration once (the baseline is in all three). */
function cellsFor(baselineConcurrency: number): { baseline: Cell; rows: Array<[Dimension, number, Cell]> } {
  const baseline: Cell = { concurrency: baselineConcurrency, subscriptions: 1 };
  const rows: Array<[Dimension, number, Cell]> = [
    ...SCALING.keys.map((keys): [Dimension, number, Cell] => ['keys', keys, { ...baseline, keys }]),
    ...SCALING.concurrency.map((concurrency): [Dimension, number, Cell] => [
      'concurrency',
      concurrency,
      { ...baseline, concurrency },
    ]),
    ...SCALING.subscriptions.map((subscriptions): [Dimension, number, Cell] => [
      'subscriptions',
      subscriptions,
      { ...baseline, subscriptions },
    ]),
  ];
  return { baseline, rows };
}

export async function benchScaling(
  backend: string,
  messages: number,
  settings: MeasureSettings,
  tag: string,
): Promise<ScalingRow[]> {
  const adapter = await connectedAdapter(backend);
  const { baseline, rows } = cellsFor(settings.concurrency);
  const cells = new Map<string, { cell: Cell; contender: Contender }>();
  for (const cell of [baseline, ...rows.map(([, , each]) => each)]) {
    const label = cellLabel(cell);
    if (cells.has(label)) continue;
    const index = cells.size;
    const topics = Array.from({ length: cell.subscriptions }, (_, topic) => `bench-${tag}-scale${index}-${topic}`);
    const target = new SdkTarget(adapter, cell.keys);
    cells.set(label, {
      cell,
      contender: contender(label, target, topics, `bench-${tag}-scale${index}`, cell.concurrency),
    });
  }
  const contenders = [...cells.values()].map(({ contender }) => contender);
  try {
    await measure('e2e', contenders, messages, settings, false, `${backend} scaling`);
  } finally {
    for (const topic of contenders.flatMap(({ topics }) => topics)) {
      await adapter
        .deleteTopic(topic)
        .catch((error: unknown) => log(`[${backend}] cleanup of ${topic}: ${describe(error)}`));
    }
    await adapter.disconnect();
  }
  const sideOfCell = (cell: Cell) => sideOf(cells.get(cellLabel(cell))?.contender, 'not run');
  const baselineSide = sideOfCell(baseline);
  return rows.map(([dimension, value, cell]) => {
    const side = sideOfCell(cell);
    const vsBaseline =
      side.status === 'ok' && baselineSide.status === 'ok' ? side.msgsPerSec / baselineSide.msgsPerSec : null;
    return { backend, dimension, value, messages, side, vsBaseline };
  });
}
