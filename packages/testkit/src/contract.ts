import { EVENT_VERSION_HEADER, type VersionedEvent } from '@eventport/core';

export interface HistoricalFixture {
  version: number;
  data: unknown;
  /** What the fixture must decode to at the latest version, when you want to pin it. */
  expected?: unknown;
}

/**
 * Contract check for an evolving event type: every payload ever published (keep one fixture per
 * version, forever) must still decode to the latest version. Returns the failures, empty when all pass.
 */
export function checkHistoricalFixtures(event: VersionedEvent, fixtures: readonly HistoricalFixture[]): string[] {
  const failures: string[] = [];
  for (const [index, fixture] of fixtures.entries()) {
    try {
      const decoded = event.decode(fixture.data, { [EVENT_VERSION_HEADER]: String(fixture.version) });
      if (fixture.expected !== undefined && JSON.stringify(decoded) !== JSON.stringify(fixture.expected)) {
        failures.push(
          `fixture ${index} (v${fixture.version}) decoded to ${JSON.stringify(decoded)}, expected ${JSON.stringify(fixture.expected)}`,
        );
      }
    } catch (error) {
      failures.push(
        `fixture ${index} (v${fixture.version}): ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return failures;
}
