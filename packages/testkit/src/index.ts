export { type CaseReport, type ConformanceHarness, runConformance, silentServer } from './conformance.js';
export { checkHistoricalFixtures, type HistoricalFixture } from './contract.js';
export { type CrashWorkerOptions, runCrashCase } from './crash.js';
export { type DriverConformanceHarness, runDriverConformance } from './driver-conformance.js';
export { FaultyAdapter } from './faulty-adapter.js';
export {
  DEFAULT_WAIT_MS,
  type SpiedDeadLetter,
  type SpiedDelivery,
  type SpiedInvalid,
  type SpiedNack,
  type SpiedPublish,
  SpyAdapter,
  type SpyKind,
  type SpyMatcher,
  type SpyRecords,
  SpyTimeoutError,
  type WaitOptions,
  withSpy,
} from './spy.js';
export { eventually, sleep, Tally } from './tally.js';
