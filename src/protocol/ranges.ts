/**
 * Index ranges such as "0-99,120,122-130": sorted, disjoint and inclusive. A checkpoint lists the
 * items done this way, so that 20,000 done items take a few characters, not 20,000 lines.
 */

/** The ranges of the indexes below `count` for which `isIn` holds. */
export function formatRanges(count: number, isIn: (index: number) => boolean): string {
  const parts: string[] = [];
  let start = -1;
  for (let i = 0; i <= count; i++) {
    const inside = i < count && isIn(i);
    if (inside && start < 0) start = i;
    else if (!inside && start >= 0) {
      parts.push(start === i - 1 ? String(start) : `${start}-${i - 1}`);
      start = -1;
    }
  }
  return parts.join(',');
}

/** Each range as [first, last]; throws an Error saying what is wrong (order, overlap, bounds). */
export function parseRanges(text: string, count: number): [number, number][] {
  if (text === '') return [];
  const ranges: [number, number][] = [];
  let previous = -1;
  for (const part of text.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`"${part}" is not an index or a range such as "3-7"`);
    const first = Number(m[1]);
    const last = m[2] === undefined ? first : Number(m[2]);
    if (last < first) throw new Error(`the range "${part}" is reversed`);
    if (first <= previous) throw new Error(`"${part}" overlaps or comes before the range before it`);
    if (last >= count) throw new Error(`"${part}" is beyond the last item (${count - 1})`);
    ranges.push([first, last]);
    previous = last;
  }
  return ranges;
}
