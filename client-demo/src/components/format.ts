const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/** "14:05" or "2:05 PM", as the locale writes it */
export function formatTime(ts: number): string {
  return timeFormat.format(new Date(ts));
}

/** "Tuesday, 3 March 2026 at 14:05:12", for titles. */
export function formatFull(ts: number): string {
  return fullFormat.format(new Date(ts));
}

/** ISO string for <time dateTime>. */
export function isoTime(ts: number): string {
  return new Date(ts).toISOString();
}
