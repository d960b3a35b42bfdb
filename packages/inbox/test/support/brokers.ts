import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO_ROOT = path.resolve(__dirname, '../../../..');
const STATE_DIR = path.join(REPO_ROOT, '.brokers');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Private servers of the test's own, so restarts never touch the shared brokers other files use: the
// backends' own test helpers (a persistent Redis with an fsynced AOF; nats-server with file storage).
export { PrivateNats } from '../../../nats/test/private-nats';
export { PrivateRedis } from '../../../redis-streams/test/private-redis';

/**
 * Claims the shared RabbitMQ for restarts through the marker files the rabbitmq package's tests use
 * (packages/rabbitmq/test/broker.ts): waits until no test that needs a steady broker is running and
 * keeps new ones out until release(). restart() is then `scripts/brokers/restart.sh rabbitmq`.
 */
export async function claimRabbitMqRestarts(): Promise<{ restart(): Promise<void>; release(): void }> {
  const markers = path.join(os.tmpdir(), 'eventport-rabbitmq-tests');
  mkdirSync(markers, { recursive: true });
  const marker = path.join(markers, `restarting-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(marker, '');
  const started = Date.now();
  while (liveMarkers(markers).some((name) => name.startsWith('steady-')) && Date.now() - started < 180_000) {
    await sleep(200);
  }
  return {
    restart: async () => {
      await run('bash', [path.join(REPO_ROOT, 'scripts/brokers/restart.sh'), 'rabbitmq'], { timeout: 180_000 });
    },
    release: () => rmSync(marker, { force: true }),
  };
}

function liveMarkers(dir: string): string[] {
  return readdirSync(dir).filter((name) => {
    try {
      process.kill(Number(name.split('-')[1]), 0);
      return true;
    } catch {
      rmSync(path.join(dir, name), { force: true });
      return false;
    }
  });
}

/** Deletes this run's queues (`<topic>.<group>`) from the shared RabbitMQ. */
export async function deleteRabbitQueues(prefix: string): Promise<void> {
  const { stdout } = await run('rabbitmqctl', ['-q', 'list_queues', 'name', '--no-table-headers']);
  const queues = stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((name) => name.startsWith(prefix));
  for (const queue of queues) await run('rabbitmqctl', ['-q', 'delete_queue', queue]).catch(() => undefined);
}

export interface KafkaUnderTest {
  servers: string;
  /** librdkafka's mock cluster (scripts/brokers/up.sh kafka): restartable through its control FIFO. */
  restart?: () => Promise<void>;
  isMock: boolean;
}

/** KAFKA_SERVER, else the mock cluster that scripts/brokers/up.sh started (.brokers/kafka.bootstrap). */
export function kafkaUnderTest(): KafkaUnderTest {
  const bootstrapFile = path.join(STATE_DIR, 'kafka.bootstrap');
  const fromFile = existsSync(bootstrapFile) ? readFileSync(bootstrapFile, 'utf8').split('\n')[0]?.trim() : undefined;
  const servers = process.env.KAFKA_SERVER?.trim() || fromFile;
  if (!servers) {
    throw new Error(
      'kafka is not reachable: set KAFKA_SERVER, or start the mock cluster with `bash scripts/brokers/up.sh kafka`',
    );
  }
  const fifo = process.env.KAFKA_MOCK_CTL ?? (servers === fromFile ? path.join(STATE_DIR, 'kafka.ctl') : undefined);
  if (!fifo) return { servers, isMock: false };
  const control = async (command: string) => {
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
    throw new Error(`kafka-mock did not acknowledge "${command}" within 5 s`);
  };
  return {
    servers,
    isMock: true,
    // Every mock broker down, a pause, every broker up: a broker restart as clients see it.
    restart: async () => {
      await control('down all');
      await sleep(1_500);
      await control('up all');
    },
  };
}
