export function fmtRate(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return Math.round(value).toLocaleString('en-US');
}

export function fmtMs(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function fmtCount(value: number): string {
  return value.toLocaleString('en-US');
}

export function fmtMiB(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(0);
}

/** A markdown table cell: pipes escaped. */
export const cell = (text: string) => text.replace(/\|/g, '\\|');
