import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureServer, type Http2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AdapterOptions } from '@eventport/core';
import { createPubSubAdapter } from '@eventport/pubsub';
import { grpc } from 'google-gax';

/**
 * A throwaway service-account key file and a TLS HTTP/2 server that completes the handshake and
 * then never answers, so the client really authenticates (signs a JWT with the private key and
 * sends it) before every call runs into its deadline.
 */
export function fakeCredentials() {
  const dir = mkdtempSync(path.join(tmpdir(), 'eventport-pubsub-key-'));
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const emailUser = `eventport-secret-${randomUUID().slice(0, 8)}`;
  const key = {
    type: 'service_account',
    project_id: 'eventport-local',
    private_key_id: randomUUID().replace(/-/g, ''),
    private_key: privateKey,
    client_email: `${emailUser}@eventport-local.iam.gserviceaccount.com`,
    client_id: '1234567890',
    token_uri: 'https://oauth2.googleapis.com/token',
  };
  const keyFile = path.join(dir, 'key.json');
  writeFileSync(keyFile, JSON.stringify(key));
  // The same file with the private key unquoted: JSON.parse quotes a piece of what it failed on.
  const damagedKeyFile = path.join(dir, 'damaged.json');
  writeFileSync(damagedKeyFile, JSON.stringify(key).replace(/"private_key":"[^"]*"/, `"private_key": ${privateKey}`));
  const tls = { key: path.join(dir, 'tls.key'), cert: path.join(dir, 'tls.crt') };
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost'].concat([
      '-addext',
      'subjectAltName=DNS:localhost',
      '-keyout',
      tls.key,
      '-out',
      tls.cert,
    ]),
    { stdio: 'ignore' },
  );
  const sessions = new Set<Http2Session>();
  /** Request headers the server saw: an `authorization` header proves the client authenticated. */
  const seen: Array<Record<string, unknown>> = [];
  const server = createSecureServer({ key: readFileSync(tls.key), cert: readFileSync(tls.cert) });
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (_stream, headers) => seen.push({ ...headers }));
  let port: Promise<number> | undefined;
  const listening = () => {
    port ??= new Promise<number>((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
    return port;
  };
  /** Not the emulator: the client goes to `localhost:<port>` over TLS (trusting that server) with the key file. */
  const makeAdapter = async (options: AdapterOptions, keyFilename = keyFile) => {
    const apiEndpoint = `localhost:${await listening()}`;
    // google-gax combines createSsl() with the key file's credentials; this one trusts the test server.
    const createSsl = () => grpc.credentials.createSsl(readFileSync(tls.cert));
    const trusting = { ...grpc, credentials: { ...grpc.credentials, createSsl } } as typeof grpc;
    return createPubSubAdapter({
      projectId: 'eventport-local',
      keyFilename,
      requestTimeoutMs: 4_000,
      clientConfig: { apiEndpoint, emulatorMode: false, grpc: trusting },
      ...options,
    });
  };
  return {
    key,
    keyFile,
    damagedKeyFile,
    seen,
    makeAdapter,
    /** What must never be printed: the key's base64 body (any line of it), its id and the account name. */
    secrets: [...privateKey.split('\n').filter((line) => line.length > 40), key.private_key_id, emailUser],
    close: async () => {
      for (const session of sessions) session.destroy();
      if (port) await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
