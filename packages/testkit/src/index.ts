export { type CaseReport, type ConformanceHarness, runConformance, silentServer } from './conformance.js';
export { checkHistoricalFixtures, type HistoricalFixture } from './contract.js';
export { type CrashWorkerOptions, runCrashCase } from './crash.js';
export { type DriverConformanceHarness, runDriverConformance } from './driver-conformance.js';
export { FaultyAdapter } from './faulty-adapter.js';
export { eventually, sleep, Tally } from './tally.js';
