/** Times are normalized to UTC and truncated to whole seconds (SPEC §1). */
export function truncateToSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

export function parseInstant(iso: string): Date {
  return truncateToSecond(new Date(iso));
}

export interface Period {
  from: Date;
  to: Date;
}

export function periodMs(period: Period): number {
  return period.to.getTime() - period.from.getTime();
}
