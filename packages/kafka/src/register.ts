import { registerBackend } from '@eventport/core';
import { backend } from './index.js';

/** `import '@eventport/kafka/register'`: a static registration that bundlers can see. */
registerBackend(backend);
