export { type CircuitBreaker, type CircuitBreakerAdapter, withCircuitBreaker } from './adapter.js';
export { CircuitOpenError } from './errors.js';
export {
  BROKER_FAILURE_CODES,
  type BufferWhileOpenOptions,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitStateChange,
  type ConnectRetryOptions,
  type FailureRatioPolicy,
  isBrokerFailure,
} from './options.js';
