import { registerBackend } from '@eventport/core';
import { backend } from './index.js';

/** `import '@eventport/nats/register'`: a static registration that bundlers can see. */
registerBackend(backend);
