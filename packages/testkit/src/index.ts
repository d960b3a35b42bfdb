export { type CaseReport, type ConformanceHarness, runConformance } from './conformance.js';
export type { CrashWorkerOptions } from './crash.js';
export { eventually, sleep, Tally } from './tally.js';
