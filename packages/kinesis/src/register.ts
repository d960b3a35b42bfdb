import { registerBackend } from '@eventport/core';
import { backend } from './index.js';

/** `import '@eventport/kinesis/register'`: a static registration that bundlers can see. */
registerBackend(backend);
