import { registerBackend } from '@eventport/core';
import { backend } from './index.js';

/** `import '@eventport/pubsub/register'`: a static registration that bundlers can see. */
registerBackend(backend);
