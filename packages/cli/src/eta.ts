/**
 * `, ETA 12 s` (or `, ETA 3 min 5 s`): the time left for `total - done` more items at the
 * rate so far, for progress lines on a terminal. Empty during the first second, when the
 * rate means little.
 */
export function etaText(startedMs: number, done: number, total: number): string {
  const elapsed = (performance.now() - startedMs) / 1000;
  if (elapsed < 1 || done === 0) return '';
  const left = Math.max(0, Math.round((elapsed / done) * (total - done)));
  return `, ETA ${left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s` : `${left} s`}   `;
}
