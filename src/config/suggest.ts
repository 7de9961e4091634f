/**
 * "Did you mean …?" for config keys and enum values: a typo (`prot`), a transposition
 * (`balacne`), a prefix (`least`), another case or separator style (`maxConnections`,
 * `max-connections`) should point at the key the user meant.
 */

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions, the commonest typo. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i < rows; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = best;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** Lower case without `_`/`-`, so `maxConnections`, `max-connections` and `max_connections` meet. */
function fold(s: string): string {
  return s.toLowerCase().replace(/[_-]/g, '');
}

/**
 * The candidate the user most likely meant by `input`, or undefined when none is close.
 * Close means: equal once case and separators are ignored, a prefix of at least 3 characters
 * either way, or within edit distance 2 (1 for words of up to 4 characters, where 2 edits
 * would match nearly anything).
 */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const f = fold(input);
  if (f === '') return undefined;
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    if (c === input) continue;
    const fc = fold(c);
    let score: number;
    if (fc === f) score = 0;
    else {
      const dist = editDistance(f, fc);
      const limit = Math.min(f.length, fc.length) <= 4 ? 1 : 2;
      if (dist <= limit) score = dist;
      else if (f.length >= 3 && (fc.startsWith(f) || f.startsWith(fc))) score = 2.5;
      else continue;
    }
    if (score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}
