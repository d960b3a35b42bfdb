// Bundled with esbuild: the backend registers statically, so the bundle needs no node_modules lookup of it.
import { createAdapter } from '@eventport/core';
import '@eventport/redis-streams/register';

const adapter = await createAdapter('redis-streams');
const health = await adapter.health();
await adapter.disconnect();
console.log(JSON.stringify({ bundledHealth: health.ok, backend: health.backend }));
