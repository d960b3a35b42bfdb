import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sleep } from '@eventport/testkit';

/**
 * The Kafka these tests talk to: KAFKA_SERVER, else the librdkafka mock cluster that
 * scripts/brokers/up.sh started (its bootstrap is in .brokers/kafka.bootstrap). The mock is steered
 * through its control FIFO (.brokers/kafka.ctl, or KAFKA_MOCK_CTL for a mock started elsewhere).
 */
export interface TestBroker {
  servers: string[];
  /** librdkafka's mock cluster rather than Apache Kafka: no admin create/delete, but fault injection. */
  isMock: boolean;
  /** Sends one control command to the mock and waits for its "ok" line. */
  control?: (command: string) => Promise<void>;
}

const STATE_DIR = path.resolve(__dirname, '../../../.brokers');

export function testBroker(): TestBroker {
  const bootstrapFile = path.join(STATE_DIR, 'kafka.bootstrap');
  const fromFile = existsSync(bootstrapFile) ? readFileSync(bootstrapFile, 'utf8').split('\n')[0]?.trim() : undefined;
  const fromEnv = process.env.KAFKA_SERVER?.trim();
  const explicitFifo = process.env.KAFKA_MOCK_CTL;
  const servers = fromEnv || fromFile;
  if (!servers) {
    throw new Error(
      'no Kafka to test against: set KAFKA_SERVER, or start the mock cluster with `bash scripts/brokers/up.sh kafka`',
    );
  }
  const fifo = explicitFifo ?? (servers === fromFile ? path.join(STATE_DIR, 'kafka.ctl') : undefined);
  const isMock = fifo !== undefined;
  return {
    servers: servers.split(',').map((server) => server.trim()),
    isMock,
    ...(fifo ? { control: (command: string) => sendControl(fifo, command) } : {}),
  };
}

async function sendControl(fifo: string, command: string): Promise<void> {
  const ackFile = process.env.KAFKA_MOCK_ACK ?? fifo.replace(/\.ctl$/, '.ack');
  const lines = () => (existsSync(ackFile) ? readFileSync(ackFile, 'utf8').split('\n').filter(Boolean) : []);
  if (!statSync(fifo).isFIFO()) throw new Error(`${fifo} is not the kafka-mock control FIFO`);
  const before = lines().length;
  writeFileSync(fifo, `${command}\n`, { flag: 'a' });
  const deadline = Date.now() + 5_000;
  while (Date.now() < deadline) {
    const answer = lines()[before];
    if (answer !== undefined) {
      if (!answer.startsWith('ok ')) throw new Error(`kafka-mock refused "${command}": ${answer}`);
      return;
    }
    await sleep(20);
  }
  throw new Error(`kafka-mock did not acknowledge "${command}" within 5 s (${ackFile})`);
}

/** Every mock broker down, a pause, every broker up: what a broker restart looks like to clients. */
export async function restartMock(broker: TestBroker, downMs = 1_500): Promise<void> {
  if (!broker.control) throw new Error('restartMock needs the kafka-mock control FIFO');
  await broker.control('down all');
  await sleep(downMs);
  await broker.control('up all');
}
